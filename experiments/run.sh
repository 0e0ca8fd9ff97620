#!/usr/bin/env bash
# The experiments of EXPERIMENTS.md, in order. Every command resumes: stop it at any time
# (Ctrl-C) and run this script again, and finished runs are read back, stopped ones continue.
#
#   JOBS=2 experiments/run.sh            # two runs at a time (one per core)
#   OUT=/somewhere/else experiments/run.sh
#
# Needs full MNIST (lrlc download, or LRLC_NP_DATA) and, for the Fashion-MNIST experiment,
# Fashion-MNIST (lrlc download --dataset fashion-mnist, or Debian's dataset-fashion-mnist).
set -euo pipefail
OUT="${OUT:-runs/experiments}"
JOBS="${JOBS:-1}"

# The budget of every run: 16 filters, the first 20,000 training images, 3 epochs, 3 seeds.
BUDGET=(--epochs 3 --filters 16 --limit-train 20000 --lr 0.1 --warmup-epochs 0.25 --seeds 0,1,2
        --jobs "$JOBS" --no-progress)
ROWS=(--position 3 --ranks 1,2,4,8 --coord-conv --input-dependent 4)

# 1. MNIST at layer 3, with the LC row in both initialisations (experiment 4)
lrlc compare "${BUDGET[@]}" "${ROWS[@]}" --lc-init both --dataset mnist --out "$OUT/mnist"
# 2. translated MNIST (40x40 canvas), the same rows
lrlc compare "${BUDGET[@]}" "${ROWS[@]}" --dataset translated-mnist --canvas 40 --out "$OUT/translated-mnist"
# 3. Fashion-MNIST, the same rows
lrlc compare "${BUDGET[@]}" "${ROWS[@]}" --dataset fashion-mnist --out "$OUT/fashion-mnist"
# 4. the rank x position sweep on MNIST
lrlc compare "${BUDGET[@]}" --positions 1,2,3 --ranks 1,2,4,8 --dataset mnist --out "$OUT/sweep"
