#!/usr/bin/env bash
# Alternated rounds of lrlc_np against PyTorch (and, optionally, an older lrlc_np), each
# measurement in its own process, one line per process:
#
#   benchmarks/rounds.sh ROUNDS TORCH_PYTHON [OLD_REF] > rounds.txt
#
# ROUNDS        how many rounds (3 or more: the host's speed moves from minute to minute)
# TORCH_PYTHON  a Python with PyTorch installed (never the one lrlc_np is tested with)
# OLD_REF       optional git revision of this repository, e.g. v0.6.0 or a commit; its
#               lrlc_np is extracted with `git archive` and timed first in every round
#
# lrlc_np is timed with the `python` on PATH (an environment with lrlc_np's dependencies):
# this checkout's lrlc_np, and OLD_REF's, come first on PYTHONPATH.
# Before each measurement the script waits, up to 30 s, for the 1-minute load average to fall
# below 0.5. Pair the figures of one round when you compute ratios.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 ROUNDS TORCH_PYTHON [OLD_REF]" >&2
    exit 2
fi
rounds=$1 torch_python=$2 old_ref=${3:-}
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
old_tree=""
if [ -n "$old_ref" ]; then
    old_tree="$(mktemp -d)"
    trap 'rm -rf "$old_tree"' EXIT
    git -C "$repo" archive "$old_ref" lrlc_np | tar -x -C "$old_tree"
fi
quiet() {
    for _ in $(seq 1 30); do
        load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
        awk "BEGIN{exit !($load < 0.5)}" && return 0
        sleep 1
    done
}
line() { tr '\n' ' ' | sed 's/ $//'; }
for r in $(seq 1 "$rounds"); do
    if [ -n "$old_tree" ]; then
        quiet; echo "round $r $old_ref: $(cd /tmp && PYTHONPATH="$old_tree" python "$here/lrlc_compare.py" | line)"
    fi
    quiet; echo "round $r current: $(cd /tmp && PYTHONPATH="$repo" python "$here/lrlc_compare.py" | line)"
    quiet; echo "round $r torch: $("$torch_python" "$here/pytorch_compare.py" | line)"
done
