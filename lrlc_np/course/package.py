"""The package a graded process imports: the grader's own files, with the student's handed-out
files in place, and the exercises the graded one calls put back solved.

    read_submission(root, files)    the handed-out files of a submission, read safely
    build(dest, submitted, solved)  write ``dest/lrlc_np``, the fresh package

Only the modules that ``lrlc_np.ops`` needs are written (found from the imports), so the
loop definitions (``reference.py``), the fast tier, the course kit and the stand-ins are not
there to be called or read. Nothing of a submission is imported but the handed-out files:
no ``__init__.py``, ``sitecustomize.py`` or ``conftest.py`` of the student's reaches it.
"""

from __future__ import annotations

import ast
import functools
import os
import stat
from pathlib import Path

from .catalogue import PACKAGE, function_node, locate
from .markers import strip_solutions

#: never part of the package a graded process imports, even if something imported them
WITHHELD = ("reference.py", "fast", "course", "stand_ins.py")
#: the largest handed-out file read from a submission
MAX_FILE_BYTES = 1 << 20


class SubmissionError(ValueError):
    """A handed-out file of a submission is missing or cannot be used; the message says why."""


def _module_file(package, dotted):
    """The file of module ``dotted`` ("lrlc_np.ops.conv") under ``package``, or None."""
    parts = dotted.split(".")[1:]
    base = Path(package).joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path, package):
    """The lrlc_np modules that the file at ``path`` imports, as dotted names."""
    relative = path.relative_to(package).with_suffix("")
    here = ["lrlc_np", *relative.parts]
    if here[-1] == "__init__":
        here = here[:-1]
    else:
        here = here[:-1]                                # a module's package
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "lrlc_np":
                continue
            found.append(module)
            found += [f"{module}.{alias.name}" for alias in node.names]      # submodules imported by name
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "lrlc_np"]
    return found


def needed_files(package=PACKAGE) -> list:
    """The files (relative to the package) that ``import lrlc_np.ops`` runs, found from the imports."""
    package = Path(package)
    todo = [package / "__init__.py", *sorted((package / "ops").glob("*.py"))]
    seen = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for dotted in _imports(path, package):
            parts = dotted.split(".")
            for depth in range(2, len(parts) + 1):       # every package on the way has an __init__
                found = _module_file(package, ".".join(parts[:depth]))
                if found is not None and found not in seen:
                    todo.append(found)
    files = sorted(str(p.relative_to(package)) for p in seen)
    return [f for f in files if not any(f == w or f.startswith(w + "/") for w in WITHHELD)]


def _no_link(path):
    return not stat.S_ISLNK(os.lstat(path).st_mode)


@functools.lru_cache(maxsize=None)
def _graders_files(package=PACKAGE) -> dict:
    """{(device, inode): path} of the grader's own source files."""
    out = {}
    for path in Path(package).rglob("*.py"):
        info = os.stat(path)
        out[(info.st_dev, info.st_ino)] = path.resolve()
    return out


def _check_not_graders(fd, path, relative):
    """Refuse a submitted file that is one of the grader's own files under another name (a hard
    link to your solved sources is a regular file, so the link check does not see it)."""
    info = os.fstat(fd)
    own = _graders_files().get((info.st_dev, info.st_ino)) if info.st_nlink > 1 else None
    if own is not None and Path(path).resolve() != own:
        raise SubmissionError(f"{relative} is a hard link to the grader's own {own.name}; submit the file itself")


def read_submission(root, files) -> tuple[dict, dict]:
    """Read the handed-out ``files`` ("ops/conv.py", ...) of the submission at ``root``.

    A file is looked for as ``root/lrlc_np/<file>``, ``root/<file>`` and ``root/<its name>``
    (a student copy, its package folder, or files uploaded on their own). It must be a
    regular file reached without a symbolic link, not a hard link to the grader's own sources,
    at most MAX_FILE_BYTES, in UTF-8.
    -> ({file: text}, {file: why it cannot be used})
    """
    root = Path(root)
    found, problems = {}, {}
    for file in files:
        candidates = [Path("lrlc_np") / file, Path(file), Path(Path(file).name)]
        for relative in candidates:
            path, where = root, root
            try:
                for part in relative.parts:
                    where = where / part
                    if not where.exists() and not where.is_symlink():
                        raise FileNotFoundError
                    if not _no_link(where):
                        raise SubmissionError(f"{relative} is a symbolic link; submit the file itself")
                path = where
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    raise SubmissionError(f"{relative} is not a regular file")
                if os.lstat(path).st_size > MAX_FILE_BYTES:
                    raise SubmissionError(f"{relative} is larger than {MAX_FILE_BYTES // 1024} kB")
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                with os.fdopen(fd, "rb") as f:
                    _check_not_graders(f.fileno(), path, relative)
                    data = f.read(MAX_FILE_BYTES + 1)
                try:
                    found[file] = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise SubmissionError(f"{relative} is not UTF-8 text") from None
                break
            except FileNotFoundError:
                continue
            except SubmissionError as err:
                problems[file] = str(err)
                break
        else:
            problems[file] = (f"no {candidates[0]} (nor {candidates[1]} or {candidates[2]}) in the submission")
    return found, problems


def _solved_text(file, package=PACKAGE):
    """The grader's own ``file`` with every solution kept and the fences removed."""
    path = Path(package) / file
    return strip_solutions(path.read_text(encoding="utf-8"), set(), str(path))


def _span(node):
    """(first, last) 1-based lines of a function, decorators included."""
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return first, node.end_lineno


def splice(text, names, solved_text, where):
    """``text`` with the functions ``names`` replaced by their versions in ``solved_text``.

    Raises SubmissionError when ``text`` does not parse or no longer defines one of them.
    """
    try:
        tree = ast.parse(text)
    except SyntaxError as err:
        raise SubmissionError(f"{where} does not parse: line {err.lineno}: {err.msg}") from None
    solved_lines = solved_text.splitlines(keepends=True)
    solved_tree = ast.parse(solved_text)
    lines = text.splitlines(keepends=True)
    spans = []
    for name in names:
        node = function_node(tree, name)
        if node is None:
            raise SubmissionError(f"{where} no longer defines {name}(), which the grader puts back solved")
        first, last = _span(function_node(solved_tree, name))
        spans.append((_span(node), "".join(solved_lines[first - 1 : last])))
    for (first, last), replacement in sorted(spans, reverse=True):
        lines[first - 1 : last] = [replacement if replacement.endswith("\n") else replacement + "\n"]
    return "".join(lines)


def build(dest, submitted, solved, package=PACKAGE) -> Path:
    """Write the fresh package to ``dest/lrlc_np`` and return ``dest``.

    submitted  {file: text}: the student's handed-out files, used in place of the grader's
    solved     exercise names whose functions are put back as the grader's solution, in the
               student's files too (the exercises the graded one calls)
    Every other file is the grader's own, with its solutions and without fences.
    """
    dest = Path(dest)
    for file in needed_files(package):
        if file in submitted:
            names = [n for n in solved if locate(n, package).file == file]
            text = splice(submitted[file], names, _solved_text(file, package), f"lrlc_np/{file}") if names \
                else submitted[file]
            try:
                ast.parse(text)
            except SyntaxError as err:
                raise SubmissionError(f"lrlc_np/{file} does not parse: line {err.lineno}: {err.msg}") from None
        else:
            text = _solved_text(file, package) if file.startswith("ops/") else (Path(package) / file).read_text(encoding="utf-8")
        target = dest / "lrlc_np" / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return dest
