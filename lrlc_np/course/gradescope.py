"""``lrlc course autograder``: the zip to upload to Gradescope as a programming assignment.

Gradescope unpacks the zip in ``/autograder/source``, runs ``setup.sh`` once to build the
image, then ``run_autograder`` for each submission (the student's files in
``/autograder/submission``), and shows ``/autograder/results/results.json``. The zip holds:

    setup.sh, run_autograder   the two scripts (``lrlc_np/course/gradescope/``, shown in TEACHING.md)
    lrlc-handout.json          the teacher's record of the handout: what is graded
    setup.py, README.md, LICENSE, lrlc_np/   this project, installed by setup.sh

``setup.sh`` then makes the installed sources readable by root only: without bubblewrap
(Gradescope's containers have no user namespaces) the grader runs graded code as ``nobody``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from .. import __version__
from . import catalogue
from .handout import MANIFEST, Handout
from .student import StudentCopyError, source_root

SCRIPTS = Path(__file__).resolve().parent / "gradescope"
PROJECT_FILES = ("setup.py", "README.md", "LICENSE")


def make_autograder(dest, exercises, source=None) -> dict:
    """Write the autograder zip to ``dest``; -> {"dest", "exercises", "files"}."""
    source = Path(source) if source is not None else source_root()
    missing = [name for name in (*PROJECT_FILES, "lrlc_np") if not (source / name).exists()]
    if missing:
        raise StudentCopyError(f"autograder: {source} has no {', '.join(missing)}; run it from a source checkout")
    dest = Path(dest)
    if dest.suffix != ".zip":
        raise StudentCopyError(f"autograder: expected a .zip file name, got {dest}")
    record = Handout(tuple(exercises), __version__)
    names = []
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for script in ("setup.sh", "run_autograder"):
            info = zipfile.ZipInfo(script)
            info.external_attr = 0o755 << 16                 # executable once unpacked
            z.writestr(info, (SCRIPTS / script).read_text(encoding="utf-8"))
            names.append(script)
        z.writestr(MANIFEST, record.to_json(catalogue.files(exercises)))
        names.append(MANIFEST)
        for name in PROJECT_FILES:
            z.write(source / name, name)
            names.append(name)
        for path in sorted((source / "lrlc_np").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                z.write(path, str(path.relative_to(source)))
                names.append(str(path.relative_to(source)))
    return {"dest": str(dest), "exercises": list(exercises), "files": names}
