"""``lrlc tutorials --notebooks DEST``: every tutorial as a Jupyter notebook, with its outputs.

The tutorials are percent-format scripts (``# %%`` code cells, ``# %% [markdown]`` prose
cells). ``jupytext`` reads them as notebooks, ``nbclient`` runs every cell in a fresh
kernel (in DEST, so figures land beside the notebooks), and the executed notebooks are
written to DEST. The notebooks are made, not committed: the scripts stay the one source.

Figures: a tutorial draws with ``lrlc_np.figures.show``, which saves a PNG file (in DEST,
through ``LRLC_NP_TUTORIAL_OUT``) and, in a kernel, also displays it, so every figure is an
``image/png`` output of its cell in the executed notebook, and a file beside it; run as a
script, the same call only saves the file. ``figure_count`` counts a notebook's figures.
Needs the ``notebooks`` extra: ``pip install -e ".[notebooks]"`` (jupytext, nbclient,
ipykernel).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

INSTALL_HINT = 'pip install -e ".[notebooks]"  (jupytext, nbclient, ipykernel)'


class NotebookError(RuntimeError):
    """The notebook tools are missing, or a tutorial failed while it ran."""


def tutorials_folder() -> Path:
    """The ``tutorials/`` folder of the source checkout this package comes from."""
    return Path(__file__).resolve().parent.parent / "tutorials"


def tutorial_scripts(folder=None) -> list[Path]:
    """The numbered tutorials, ``NN_name.py``, in order."""
    folder = Path(folder) if folder is not None else tutorials_folder()
    scripts = sorted(p for p in folder.glob("*.py") if re.match(r"\d\d_", p.name))
    if not scripts:
        raise NotebookError(f"no tutorials (NN_name.py) in {folder}; run this from a source checkout")
    return scripts


def _tools():
    try:
        import jupytext
        import nbclient
    except ImportError as err:
        raise NotebookError(f"making notebooks needs {err.name}: {INSTALL_HINT}") from None
    return jupytext, nbclient


def make_notebooks(dest, scripts=None, execute=True, quick=False, timeout=600, progress=None) -> list[Path]:
    """Write ``scripts`` (default: every tutorial) as notebooks into ``dest``; returns their paths.

    execute  run every cell first, so the notebook holds its outputs and figures
    quick    run with LRLC_NP_QUICK=1 (each tutorial's training shrunk to seconds)
    timeout  seconds one cell may run
    """
    jupytext, nbclient = _tools()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    saved = {k: os.environ.get(k) for k in ("LRLC_NP_QUICK", "MPLBACKEND", "LRLC_NP_TUTORIAL_OUT")}
    os.environ.update(MPLBACKEND="Agg", LRLC_NP_TUTORIAL_OUT=str(dest.resolve()))   # the kernel inherits these
    if quick:
        os.environ["LRLC_NP_QUICK"] = "1"
    try:
        for script in scripts or tutorial_scripts():
            if progress:
                progress(script.name)
            notebook = jupytext.read(script)
            notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
            if execute:
                client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                                 resources={"metadata": {"path": str(dest)}})
                try:
                    client.execute()
                except Exception as err:           # CellExecutionError and kernel failures
                    last = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
                    raise NotebookError(f"{script.name} failed while it ran: {last}") from None
            path = dest / f"{script.stem}.ipynb"
            jupytext.write(notebook, path)
            written.append(path)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return written


def figure_count(notebook) -> int:
    """How many figures (``image/png`` outputs) the cells of an executed notebook show."""
    return sum("image/png" in output.get("data", {})
               for cell in notebook["cells"] if cell["cell_type"] == "code"
               for output in cell.get("outputs", []))
