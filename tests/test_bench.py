"""``lrlc bench``: the structure of its result, the report, the JSON file and the command line.

No assertion here is about speed: timings on a shared machine vary too much for that. The
tests run the benchmark on a tiny shape and check that every number is there, positive,
finite and consistent with the others.
"""

import json
import math
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from lrlc_np import bench, cli

# smaller than --quick, so the whole file stays fast on a busy machine
TINY = dict(
    batch=2, channels=8, size=10, kernel=3, ranks=[1, 4], repeats=2, warmup=1,
    matmul_n=128, warmup_s=0.0,
    reference_batch=1, reference_channels=2, reference_size=5, reference_rank=2, reference_repeats=1,
    train_batch=4, train_filters=8, train_rank=4, train_position=3, profile_only=False, quick=True,
    tiers=["fast", "clear"],
)


@pytest.fixture(scope="module")
def result():
    return bench.run_benchmark(dict(TINY))


def _positive_finite(value):
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_all_sections_are_present(result):
    assert set(result) >= {"settings", "machine", "layers", "reference", "training", "profile", "notes",
                           "elapsed_s"}
    assert result["settings"] == TINY
    names = ["conv", "LC", "LRLC K=1", "LRLC K=4"]
    assert [(r["tier"], r["name"]) for r in result["layers"]] == [(t, n) for t in ("fast", "clear") for n in names]
    assert [r["name"] for r in result["reference"]] == ["conv", "LC", "LRLC K=2"]
    types = [["conv"] * 3, ["conv", "conv", "lrlc"], ["conv", "conv", "lrlc"]]
    assert [(r["tier"], r["layer_types"]) for r in result["training"]] == [(t, l) for t in ("fast", "clear") for l in types]


def test_machine_section(result):
    m = result["machine"]
    assert m["cpu_count"] == os.cpu_count()
    assert m["backend"] == "numpy" and m["numpy"] == np.__version__
    assert set(m["env"]) >= {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"}
    assert m["blas"]["source"] in ("threadpoolctl", "numpy.show_config", "unknown")
    mm = m["matmul"]
    assert mm["n"] == TINY["matmul_n"] and mm["dtype"] == "float32"
    assert _positive_finite(mm["seconds"]) and _positive_finite(mm["gflops"])
    assert mm["gflops"] == pytest.approx(2 * mm["n"] ** 3 / mm["seconds"] / 1e9)


def test_layer_rows_are_consistent(result):
    peak = result["machine"]["matmul"]["gflops"]
    n, c, k = TINY["batch"], TINY["channels"], TINY["kernel"]
    out = TINY["size"] - k + 1
    for row in result["layers"]:
        for key in ("forward_s", "backward_s", "total_s", "forward_gflops", "backward_gflops",
                    "forward_pct", "backward_pct", "relative_to_conv"):
            assert _positive_finite(row[key]), (row["name"], key)
        assert row["forward_flops"] == 2 * n * out * out * c * c * k * k
        assert row["backward_flops"] == 2 * row["forward_flops"]
        assert row["total_s"] == pytest.approx(row["forward_s"] + row["backward_s"])
        assert row["forward_gflops"] == pytest.approx(row["forward_flops"] / row["forward_s"] / 1e9)
        assert row["backward_gflops"] == pytest.approx(row["backward_flops"] / row["backward_s"] / 1e9)
        assert row["forward_pct"] == pytest.approx(100 * row["forward_gflops"] / peak)
        assert row["backward_pct"] == pytest.approx(100 * row["backward_gflops"] / peak)
        conv_total = next(r["total_s"] for r in result["layers"] if r["tier"] == row["tier"])   # same tier's conv
        assert row["relative_to_conv"] == pytest.approx(row["total_s"] / conv_total)
    for tier in ("fast", "clear"):
        rows = [r for r in result["layers"] if r["tier"] == tier]
        assert rows[0]["relative_to_conv"] == 1.0 and rows[0]["route"] is None
        # "auto" resolved as documented: "conv" for K = 1, "lc" from K = 2
        assert [(r["kind"], r["route"]) for r in rows[2:]] == [("lrlc", "conv"), ("lrlc", "lc")]


def test_reference_rows(result):
    for row in result["reference"]:
        assert _positive_finite(row["reference_s"]) and set(row["tiers"]) == {"fast", "clear"}
        for tier in row["tiers"].values():
            assert _positive_finite(tier["vectorised_s"])
            assert tier["speedup"] == pytest.approx(row["reference_s"] / tier["vectorised_s"])
            assert tier["max_abs_diff"] < 1e-10   # float64: both compute the same numbers


def test_training_rows(result):
    for row in result["training"]:
        assert row["batch"] == TINY["train_batch"] and row["filters"] == TINY["train_filters"]
        for key in ("step_s", "images_per_s", "peak_traced_mb", "params_mb"):
            assert _positive_finite(row[key]), (row["name"], key)
        assert row["images_per_s"] == pytest.approx(row["batch"] / row["step_s"])
    assert result["training"][1]["rank"] == 4 and "lrlc K=4" in result["training"][1]["name"]
    assert result["training"][2]["name"] == "conv,conv,lrlc K=4 input-dependent"
    assert result["training"][2]["params_mb"] > result["training"][1]["params_mb"]   # the combining network
    for fast, clear in zip(result["training"][:3], result["training"][3:]):        # the same networks
        assert fast["params_mb"] == clear["params_mb"]


def test_step_profile_rows(result):
    """One profile per tier and network; a row per layer, then the loss and the optimiser."""
    profiles = result["profile"]
    assert [(p["tier"], p["name"]) for p in profiles] == [
        (t, n) for t in ("fast", "clear") for n in ("conv,conv,conv", "conv,conv,lrlc K=4")]
    peak = result["machine"]["matmul"]["gflops"]
    for prof in profiles:
        rows = prof["rows"]
        assert [r["layer"] for r in rows[-2:]] == ["loss", "optimizer"]
        covered = []                                      # every layer once, in order; a fused
        for r in rows[:-2]:                               # BatchNorm2D + ReLU pair is one row "i-j"
            if isinstance(r["index"], str):
                lo, hi = map(int, r["index"].split("-"))
                assert r["layer"] == "BatchNorm2D+ReLU" and hi == lo + 1 and prof["tier"] == "fast"
                covered += [lo, hi]
            else:
                covered.append(r["index"])
        assert covered == list(range(len(covered))) and len(covered) == 11
        fused_rows = [r for r in rows if r["layer"] == "BatchNorm2D+ReLU"]
        assert len(fused_rows) == (3 if prof["tier"] == "fast" else 0)
        assert _positive_finite(prof["step_s"])
        parts = sum(r["forward_s"] + (r["backward_s"] or 0.0) for r in rows)
        assert parts <= prof["step_s"] * 1.001           # the parts fit inside the step
        spatial = [r for r in rows if r["forward_flops"] is not None]
        assert [r["layer"] for r in spatial][:2] == ["Conv2D", "Conv2D"] and len(spatial) == 3
        first = spatial[0]                                # 1 -> 8 channels, 28x28 -> 26x26, 3x3
        assert first["forward_flops"] == 2 * TINY["train_batch"] * 26 * 26 * TINY["train_filters"] * 9
        assert first["shape"] == "(1, 28, 28) -> (8, 26, 26)"
        for r in spatial:
            assert r["backward_flops"] == 2 * r["forward_flops"]
            assert r["forward_pct"] == pytest.approx(100 * r["forward_gflops"] / peak)
            assert r["backward_gflops"] == pytest.approx(r["backward_flops"] / r["backward_s"] / 1e9)


def test_profile_only_skips_the_other_sections():
    only = bench.run_benchmark(dict(TINY, profile_only=True, tiers=["fast"]))
    assert only["layers"] == only["reference"] == only["training"] == []
    assert [p["tier"] for p in only["profile"]] == ["fast", "fast"]
    text = bench.format_report(only)
    assert "== step profile, fast tier: conv,conv,conv" in text and "== layers" not in text


def test_report_mentions_every_section_and_layer(result):
    text = bench.format_report(result)
    for heading in ("== machine ==", "== layers, fast tier", "== layers, clear tier",
                    "== the two tiers side by side", "== reference", "== training", "== step profile"):
        assert heading in text
    for row in result["layers"] + result["reference"] + result["training"]:
        assert row["name"] in text
    assert "GFLOP/s" in text and "conv-equivalent" in text and "tracemalloc" in text


def test_json_is_written_atomically_and_round_trips(result, tmp_path):
    path = tmp_path / "bench.json"
    path.write_text("old")
    bench.write_json(result, path)
    assert json.loads(path.read_text()) == json.loads(json.dumps(result))
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]   # no temporary file left behind
    with pytest.raises(ValueError):
        bench.write_json({"bad": float("nan")}, path)   # NaN is not JSON: rejected, old file kept
    assert json.loads(path.read_text()) == json.loads(json.dumps(result))
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]


def test_make_settings_applies_overrides_and_rejects_unknown_names():
    s = bench.make_settings(quick=True, repeats=5, batch=None)
    assert s["repeats"] == 5 and s["batch"] == bench.QUICK["batch"] and s["quick"] is True
    assert bench.make_settings()["batch"] == 64 and bench.make_settings()["ranks"] == [1, 2, 4, 8]
    with pytest.raises(ValueError, match="unknown settings"):
        bench.make_settings(bach=3)


def test_blas_info_prefers_threadpoolctl(monkeypatch):
    fake = types.ModuleType("threadpoolctl")
    fake.threadpool_info = lambda: [dict(user_api="blas", internal_api="openblas", version="0.3.99",
                                         num_threads=2, architecture="SkylakeX", filepath="/x.so")]
    monkeypatch.setitem(sys.modules, "threadpoolctl", fake)
    blas = bench.machine_info()["blas"]
    assert (blas["source"], blas["name"], blas["version"], blas["threads"]) == ("threadpoolctl", "openblas", "0.3.99", 2)


def test_blas_info_falls_back_to_numpy_config(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)   # import fails
    blas = bench.machine_info()["blas"]
    assert blas["source"] in ("numpy.show_config", "unknown") and blas["threads"] is None

    def old_numpy(*args, **kwargs):
        raise TypeError("show_config() got an unexpected keyword argument 'mode'")

    monkeypatch.setattr(np, "show_config", old_numpy)
    assert bench.machine_info()["blas"]["source"] == "unknown"


@pytest.mark.parametrize("tier", ["clear", "fast"])
def test_lrlc_layer_reports_the_route_it_took(tier):
    """``resolved_method``: an explicit method is taken as given; "auto" is "conv" for K = 1 or
    per-example alpha, else "lc"; None before any forward pass."""
    from lrlc_np import use_ops
    from lrlc_np.layers import LowRankLocallyConnected2D

    x = np.zeros((1, 2, 5, 5), np.float32)
    with use_ops(tier):
        for method, rank, dependent, expected in [("conv", 2, False, "conv"), ("lc", 2, False, "lc"),
                                                  ("auto", 1, False, "conv"), ("auto", 2, False, "lc"),
                                                  ("auto", 2, True, "conv")]:
            layer = LowRankLocallyConnected2D(2, 3, 3, 5, rank, method=method, input_dependent=dependent,
                                              rng=np.random.default_rng(0))
            assert layer.resolved_method is None
            layer.forward(x)
            assert layer.resolved_method == expected, (method, rank, dependent)


# --------------------------------------------------------------------------- command line

def test_cli_bench_prints_the_report_and_writes_json(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(bench.measure, "QUICK", dict(TINY))
    seen = {}
    real = bench.run_benchmark

    def spy(settings, log=None):
        seen["settings"] = settings
        seen["result"] = real(settings, log=log)
        return seen["result"]

    monkeypatch.setattr(bench, "run_benchmark", spy)
    path = tmp_path / "out.json"
    assert cli.main(["bench", "--quick", "--repeats", "1", "--json", str(path)]) == 0
    captured = capsys.readouterr()
    assert seen["settings"]["repeats"] == 1 and seen["settings"]["batch"] == TINY["batch"]
    assert "== layers" in captured.out and f"wrote {path}" in captured.out
    assert "bench: layer (fast tier): conv" in captured.err          # progress lines go to stderr
    assert "bench: layer (clear tier): conv" in captured.err
    assert json.loads(path.read_text()) == json.loads(json.dumps(seen["result"]))


@pytest.mark.parametrize("ops,expected", [("fast", ["fast"]), ("clear", ["clear"]), ("both", ["fast", "clear"])])
def test_cli_bench_ops_picks_the_tiers_timed(monkeypatch, ops, expected):
    seen = {}
    monkeypatch.setattr(bench, "run_benchmark", lambda settings, log=None: seen.setdefault("s", settings) and 0)
    monkeypatch.setattr(bench, "format_report", lambda result: "")
    assert cli.main(["bench", "--quick", "--no-progress", "--ops", ops]) == 0
    assert seen["s"]["tiers"] == expected


def test_cli_bench_profile_asks_for_the_profile_only(monkeypatch):
    seen = []
    monkeypatch.setattr(bench, "run_benchmark", lambda settings, log=None: seen.append(settings) or {})
    monkeypatch.setattr(bench, "format_report", lambda result: "")
    assert cli.main(["bench", "--quick", "--no-progress", "--profile"]) == 0
    assert cli.main(["bench", "--quick", "--no-progress"]) == 0
    assert [s["profile_only"] for s in seen] == [True, False]


def test_cli_bench_json_into_a_missing_folder_fails_before_timing(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(bench, "run_benchmark", lambda *a, **k: pytest.fail("should not run"))
    assert cli.main(["bench", "--quick", "--json", str(tmp_path / "no" / "out.json")]) == 1
    assert capsys.readouterr().err.startswith("lrlc bench: error: cannot write")


def test_cli_bench_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--quick", "--repeats", "--batch", "--train-batch", "--json", "--no-progress", "--ops",
                 "--profile"):
        assert flag in out
    assert "matmul" in out and "tracemalloc" in out


@pytest.mark.parametrize("flag,value", [("--repeats", "0"), ("--batch", "x"), ("--train-batch", "-3"),
                                        ("--repeats", "2.5")])
def test_bad_bench_flags_are_one_line_errors(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench", flag, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("lrlc bench: error: argument") and flag in err


def test_python_dash_m_bench_help():
    done = subprocess.run([sys.executable, "-m", "lrlc_np", "bench", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--quick" in done.stdout


# --------------------------------------------------------------------------- benchmarks/
BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


def _lrlc_compare(monkeypatch):
    """benchmarks/lrlc_compare.py's globals, with lrlc_np.bench's timers replaced by fixed rows."""
    import runpy

    layer = {"conv": (0.05, 2e9, 4e9), "lc": (0.07, 2e9, 4e9), "lrlc": (0.09, 2e9, 4e9)}

    def time_layer(kind, rank=None, repeats=7):
        total, fwd, bwd = layer[kind]
        return dict(total_s=total, forward_flops=fwd, backward_flops=bwd)

    def training_throughput(types, steps=7):
        return dict(images_per_s=400.0 if "lrlc" not in types else 300.0, peak_traced_mb=150.0)

    monkeypatch.setattr(bench, "matmul_rate", lambda: dict(gflops=200.0))
    monkeypatch.setattr(bench, "time_layer", time_layer)
    monkeypatch.setattr(bench, "training_throughput", training_throughput)
    monkeypatch.syspath_prepend(BENCHMARKS)          # as when run as a script: _report.py beside it
    return runpy.run_path(os.path.join(BENCHMARKS, "lrlc_compare.py"), run_name="lrlc_compare")


def test_lrlc_compare_reports_the_keys_of_the_pytorch_side(monkeypatch):
    import re

    out = _lrlc_compare(monkeypatch)["measure"](repeats=3)
    with open(os.path.join(BENCHMARKS, "pytorch_compare.py")) as f:
        torch_keys = set(re.findall(r'out\["(\w+)"\]', f.read()))
    assert torch_keys, "no measurement keys found in pytorch_compare.py"
    assert torch_keys <= set(out), f"lrlc_compare.py lacks {sorted(torch_keys - set(out))}"
    # conv: 6 GFLOP in 0.05 s = 120 GFLOP/s, 60% of a 200 GFLOP/s matmul
    assert out["conv_pct_mm"] == pytest.approx(60.0)
    assert out["conv_ms"] == pytest.approx(50.0) and out["lrlc4_ms"] == pytest.approx(90.0)
    assert out["train_conv_img_s"] == 400.0 and out["train_lrlc4_img_s"] == 300.0


def test_lrlc_compare_refuses_a_bad_repeat_count(monkeypatch, capsys):
    main = _lrlc_compare(monkeypatch)["main"]
    with pytest.raises(SystemExit):
        main(["--repeats", "0"])
    assert "--repeats: expected a positive integer, got 0" in capsys.readouterr().err
