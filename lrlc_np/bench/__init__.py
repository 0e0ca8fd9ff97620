"""``lrlc bench``: how fast are the layers, measured against what the machine can do?

    measure.py   the measurements (matmul rate, layers, reference loops, training, step profile)
                 and ``run_benchmark(settings) -> dict``, which gathers them
    report.py    ``format_report(result) -> str`` and ``write_json(result, path)``

    result = bench.run_benchmark(bench.make_settings(quick=True))
    print(bench.format_report(result))
"""

from .measure import (FULL, QUICK, layer_flops, machine_info, make_settings, matmul_rate, run_benchmark,
                      step_profile, time_layer, time_reference, training_throughput)
from .report import NOTES, format_profile, format_report, write_json

__all__ = [
    "FULL", "QUICK", "make_settings", "machine_info", "matmul_rate", "layer_flops", "time_layer",
    "time_reference", "training_throughput", "step_profile", "run_benchmark", "format_report",
    "format_profile", "write_json", "NOTES",
]
