"""How both sides of the comparison report a round: one ``key: value`` line per measurement
(floats to one decimal), and the same numbers as JSON if asked. ``rounds.sh`` pairs the
lines of ``lrlc_compare.py`` and ``pytorch_compare.py`` by these keys."""

from __future__ import annotations

import json


def report(out: dict, json_path=None) -> None:
    for key, value in out.items():
        print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(out, f, indent=2)
