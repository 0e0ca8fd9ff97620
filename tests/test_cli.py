"""The command line: --help, the gradcheck table and its exit status."""

import subprocess
import sys

import pytest

from lrlc_np import cli, layers


COMMANDS = ("gradcheck", "train", "compare", "download", "bench")


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out, command


def test_module_docstring_names_every_command():
    for command in COMMANDS:
        assert f"lrlc {command}" in cli.__doc__, command


# the flags each command's --help must explain (those that --ops joined included)
HELP_FLAGS = {
    "gradcheck": ("--seed", "--eps", "--tolerance", "--backend", "--ops"),
    "train": ("--layers", "--rank", "--filters", "--combining", "--normalize", "--input-dependent",
              "--epochs", "--lr", "--dataset", "--out", "--resume", "--backend", "--ops"),
    "compare": ("--position", "--ranks", "--seeds", "--jobs", "--scheduler", "--quick", "--out", "--backend", "--ops"),
    "download": ("--dataset", "--data-dir", "--no-progress"),
    "bench": ("--quick", "--repeats", "--json", "--backend", "--ops"),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_explains_its_flags(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in HELP_FLAGS[command]:
        assert flag in out, (command, flag)


def test_gradcheck_prints_an_all_pass_table(capsys):
    assert cli.main(["gradcheck", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.endswith(("pass", "FAIL"))]
    assert lines and all(line.endswith("pass") for line in lines)
    for name in ("Conv2D", "LocallyConnected2D", "row_col/softmax", "row/norm", "col/none",
                 "full/softmax", "via conv", "via lc", "Dense", "ReLU", "BatchNorm2D (training)",
                 "BatchNorm2D (evaluation)", "GlobalAvgPool2D", "Flatten", "SoftmaxCrossEntropy",
                 "LRLC K=2 input-dependent alpha"):
        assert name in out, name
    for param in ("bases", "row_logits", "col_logits", "logits", "spatial_bias", "row_bias", "col_bias",
                  "combiner.low.weight", "combiner.dilated2.weight", "combiner.out.bias"):
        assert f" {param} " in out, param
    assert f"all {len(lines)} gradients match" in out


@pytest.mark.parametrize("tier", ["clear", "fast"])
def test_gradcheck_passes_on_either_tier_and_says_which(tier, capsys, monkeypatch):
    from lrlc_np import tiers

    monkeypatch.delenv(tiers.ENV_VARIABLE, raising=False)    # --ops sets it; restored afterwards
    with tiers.use_ops(tiers.get_ops()):            # restores the tier that --ops changes
        assert cli.main(["gradcheck", "--ops", tier]) == 0
        assert tiers.get_ops() == tier
    out = capsys.readouterr().out
    assert f"{tier} tier of ops" in out and "gradients match" in out


def test_gradcheck_fails_with_status_1_on_a_wrong_backward(capsys, monkeypatch):
    honest = layers.Dense.backward

    def wrong(self, dy):
        dx = honest(self, dy)
        self.grads["weight"] = 2 * self.grads["weight"]
        return dx

    monkeypatch.setattr(layers.Dense, "backward", wrong)
    assert cli.main(["gradcheck"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "1 of" in out and "FAILED" in out
    failing = [line for line in out.splitlines() if line.endswith("FAIL")]
    assert len(failing) == 1 and failing[0].startswith("Dense") and " weight " in failing[0]


@pytest.mark.parametrize("flag,value", [("--eps", "0"), ("--tolerance", "-1"), ("--seed", "x")])
def test_bad_flag_values_are_one_line_errors(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["gradcheck", flag, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("lrlc gradcheck: error: argument") and flag in err


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "lrlc_np", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("lrlc_np ")


@pytest.mark.parametrize("command", ["gradcheck", "train", "compare", "bench"])
def test_an_unusable_backend_is_a_one_line_error(command, capsys, monkeypatch):
    """--backend cupy on a machine that cannot run it: status 1, the BackendError's text,
    no traceback, and the NumPy backend stays active."""
    from lrlc_np import backend

    def unavailable():
        raise backend.BackendError("backend 'cupy' was requested but CuPy is not installed")

    monkeypatch.setattr(backend, "_import_cupy", unavailable)
    argv = [command, "--backend", "cupy"] + (["--out", "unused"] if command == "train" else [])
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"lrlc {command}: error: backend 'cupy' was requested but CuPy is not installed"]
    assert backend.get_backend() == "numpy"
