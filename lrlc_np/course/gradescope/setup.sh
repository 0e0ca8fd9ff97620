#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image. The autograder zip is
# unpacked in $ROOT/source: this project (setup.py, lrlc_np/, README.md), run_autograder and
# lrlc-handout.json (the teacher's record of what was handed out).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
if [ -z "${SKIP_APT:-}" ]; then
    apt-get update -qq
    apt-get install -y -qq python3 python3-venv python3-pip bubblewrap
fi
python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/pip" install --quiet --upgrade pip
"$ROOT/venv/bin/pip" install --quiet "$ROOT/source"
# graded code runs as nobody here: the solved sources are for root only
site=$("$ROOT/venv/bin/python" -c "import lrlc_np, os; print(os.path.dirname(lrlc_np.__file__))")
chmod -R go-rwx "$site" "$ROOT/source/lrlc_np"
