#!/usr/bin/env bash
# The comparison at the paper's budget (EXPERIMENTS.md, "At the paper's budget"): MNIST,
# layer position 3, 64 filters per layer, all 55,200 training images, batch 128. Every
# command resumes: stop it at any time and run this script again.
#
#   experiments/paper_budget.sh                       # the pilot, then the grid, two runs at a time
#   OUT=/shared/runs SCHEDULER=tcp://host:8786 experiments/paper_budget.sh   # the grid on a Dask cluster
#
# Every run uses one thread (LRLC_NP_THREADS=1), so its bits do not depend on where it ran.
set -euo pipefail
OUT="${OUT:-runs/paper-budget}"
export LRLC_NP_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

# 1. The pilot: the conv row, seed 0, chooses the learning rate and the epochs on the
#    validation accuracy (the first 8% of the training set), never the test set.
pilot() {  # lr epochs
    local dir="$OUT/pilot/conv_lr$1_e$2"
    if [ -f "$dir/config.json" ]; then lrlc train --resume --out "$dir" --no-progress
    else lrlc train --layers conv,conv,conv --filters 64 --lr "$1" --epochs "$2" --seed 0 --no-progress --out "$dir"; fi
}
pilot 0.05 10 & first=$!
pilot 0.1 20 & second=$!
wait "$first"; wait "$second"      # each by name: a bare wait would hide a failed pilot
pilot 0.2 10

# 2. The grid with the pilot's choice (lr 0.2, 10 epochs), seeds added one at a time so every
#    row has as many seeds as the others when it is stopped: the six rows, four seeds.
WHERE=(--jobs 2)
[ -n "${SCHEDULER:-}" ] && WHERE=(--scheduler "$SCHEDULER")
BUDGET=(--epochs 10 --filters 64 --lr 0.2 --batch-size 128 --position 3 --dataset mnist --coord-conv
        --lc-init both --ranks 4 --no-progress "${WHERE[@]}")
for seeds in 0 0,1 0,1,2 0,1,2,3; do
    lrlc compare "${BUDGET[@]}" --seeds "$seeds" --out "$OUT/grid"
done

# 3. A fifth seed where a difference is small (LRLC K=4 against CoordConv, the two LC
#    initialisations), then one report of every run: the record EXPERIMENTS.md reports.
lrlc compare "${BUDGET[@]}" --seeds 4 --rows coord_conv,lrlc_K4,lc,lc_keras_init --out "$OUT/seed4"
lrlc compare --combine "$OUT/grid" "$OUT/seed4" --out "$OUT/record"

# 4. LRLC K=2 and input-dependent K=4 beside the six rows, seeds one at a time, and the record again.
for seeds in 0 0,1 0,1,2 0,1,2,3; do
    lrlc compare "${BUDGET[@]}" --ranks 2,4 --input-dependent 4 --seeds "$seeds" --out "$OUT/grid"
done
lrlc compare --combine "$OUT/grid" "$OUT/seed4" --out "$OUT/record"
