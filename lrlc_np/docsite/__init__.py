"""``lrlc docs DEST``: the documentation site, a static folder that students open in a browser.

The site holds the README as its home page, every tutorial executed (figures inline, maths
rendered), the API reference generated from the docstrings, TEACHING.md, EXPERIMENTS.md with
its figures and the performance page. It is built offline and reads offline: MathJax is
copied into the site from a Python package, the theme brings no web fonts, and a check after
the build fails it when a page loads anything from another host or links to a file or an
anchor that is not there.

How it is made (``build_site``):

    1. the pages are staged in a temporary folder with the repository's layout, so that
       every relative link and image of the Markdown files keeps working: README.md becomes
       index.md, TEACHING.md, EXPERIMENTS.md and the performance page keep their paths, and
       the files they link to (figures, scripts) are copied beside them;
    2. the tutorials are converted and executed by ``lrlc_np.notebooks`` (the same code as
       ``lrlc tutorials --notebooks``; ``quick`` runs them with LRLC_NP_QUICK=1);
    3. one reStructuredText page per group of modules (``API_GROUPS``) asks Sphinx's autodoc
       for every public module; ``plaintext.to_rst`` turns each plain-text docstring into
       reStructuredText that shows it as written (formulas and shape tables as literal
       blocks);
    4. Sphinx builds the HTML in a child process with every warning an error (a broken
       cross-reference, a docstring that does not parse, a page outside the table of
       contents), then ``check_site`` reads every page for external resources and broken
       internal links.

Why these tools: Sphinx with MyST-NB and the Furo theme. Sphinx's autodoc imports the real
package, so the reference is the code's own docstrings, and its warnings-as-errors mode
fails the build on a broken reference; MyST-NB (Executable Books) renders executed
notebooks with their outputs and figures inline and parses the Markdown pages with the same
MyST parser, whose dollar-maths extension gives LaTeX maths in the tutorials; Furo uses the
system's fonts and ships every script it needs. All three are actively maintained. The
alternative, MkDocs with Material, mkdocs-jupyter and mkdocstrings, was set aside: MkDocs 1.x
has had no maintainer since 2024 and Material is in maintenance mode, and mkdocs-jupyter
renders notebooks through nbconvert's templates, which point MathJax at a CDN by default.
MathJax 3 itself comes from the ``sphinx-mathjax-offline`` wheel (its files only, not its
Sphinx hook: the build copies into ``_static/mathjax`` the component the pages load, its fonts,
the TeX extensions it loads on demand and the accessibility modules its menu offers).

Needs the ``docs`` extra: ``pip install -e ".[docs]"``; Sphinx and the notebook tools are
imported only inside ``build_site``.
"""

from __future__ import annotations

import fnmatch
import html.parser
import importlib.util
import os
import pkgutil
import re
import shutil
import tempfile
import time
import urllib.parse
from pathlib import Path

INSTALL_HINT = 'pip install -e ".[docs]"'

#: the pages besides the home page and the tutorials, as paths in the source checkout
PAGES = ("TEACHING.md", "EXPERIMENTS.md")
#: where the performance page may be: every one of these that exists is a page of the site
PERFORMANCE_PAGES = ("docs/performance.md", "docs/performance-history.md", "PERFORMANCE.md")

#: the API reference: (page, title, what it holds, module patterns in reading order); a module
#: goes on the first page whose patterns match it, so a new module appears without a change here
API_GROUPS = (
    ("reference", "Loop definitions", "the equations as loops, forward and backward: the first read, "
     "and the oracle for both tiers", ("lrlc_np.reference",)),
    ("ops", "The clear tier", "vectorised forward and backward functions, one product per step, "
     "every shape and derivation in the docstrings", ("lrlc_np.ops", "lrlc_np.ops.im2col", "lrlc_np.ops.conv",
                                                      "lrlc_np.ops.local", "lrlc_np.ops.combining",
                                                      "lrlc_np.ops.lrlc", "lrlc_np.ops.*")),
    ("fast", "The fast tier", "the same functions tuned for a CPU, each saying what it changes and "
     "what that buys", ("lrlc_np.fast", "lrlc_np.fast.nhwc", "lrlc_np.fast.conv", "lrlc_np.fast.local",
                        "lrlc_np.fast.lrlc", "lrlc_np.fast.*")),
    ("layers", "Layers and the network", "layers with parameters and gradients, and the paper's network",
     ("lrlc_np.layers", "lrlc_np.layers.base", "lrlc_np.layers.conv", "lrlc_np.layers.local",
      "lrlc_np.layers.lrlc", "lrlc_np.layers.*", "lrlc_np.models")),
    ("gradcheck", "Gradient checking", "finite differences against the hand-derived backward passes",
     ("lrlc_np.gradcheck", "lrlc_np.gradcheck_cases")),
    ("package", "Package, backend and tiers", "the NumPy/CuPy switch, the tier switch and the option lists",
     ("lrlc_np", "lrlc_np.backend", "lrlc_np.tiers", "lrlc_np.options")),
    ("training", "Data and training", "data sets, the optimiser, the training loop and its run folders",
     ("lrlc_np.data", "lrlc_np.data.*", "lrlc_np.optim", "lrlc_np.train", "lrlc_np.rundir")),
    ("experiments", "Experiments and measurements", "comparisons over seeds, their statistics and "
     "figures, and the benchmark", ("lrlc_np.compare", "lrlc_np.stats", "lrlc_np.plots", "lrlc_np.bench")),
    ("course", "The course kit", "student copies, the exercises' checks and the grader",
     ("lrlc_np.course", "lrlc_np.course.*", "lrlc_np.stand_ins")),
    ("tools", "Command line and tools", "the lrlc command, the notebooks and this site", ("*",)),
)

#: the MathJax files copied into the site, from the sphinx-mathjax-offline wheel: the TeX-to-HTML
#: component, the TeX extensions it loads on demand, its fonts, and the modules of its menu's
#: accessibility options (speech and the expression explorer: sre and a11y, 4.3 of the 6.8 MB)
MATHJAX_DISTRIBUTION = "sphinx-mathjax-offline"
MATHJAX_PARTS = ("tex-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2", "ui", "a11y",
                 "adaptors", "sre")


class DocsError(RuntimeError):
    """The site cannot be built: a tool is missing, a page or a tutorial failed, or a check found a fault."""


# --------------------------------------------------------------------------- what goes in

def source_root() -> Path:
    """The source checkout this package comes from (README.md, tutorials/, docs/ beside it)."""
    return Path(__file__).resolve().parent.parent.parent


def config_folder() -> Path:
    """docs/site/ of the source checkout: Sphinx's conf.py and the site's static files."""
    return source_root() / "docs" / "site"


def performance_pages(root=None) -> list[str]:
    """The paths of ``PERFORMANCE_PAGES`` that exist in the checkout."""
    root = Path(root) if root is not None else source_root()
    return [page for page in PERFORMANCE_PAGES if (root / page).is_file()]


def public_modules() -> list[str]:
    """Every module of the package whose dotted name has no part starting with "_"."""
    import lrlc_np

    names = ["lrlc_np"]
    for info in pkgutil.walk_packages(lrlc_np.__path__, "lrlc_np."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def api_pages(modules=None) -> list[tuple[str, str, str, list[str]]]:
    """``API_GROUPS`` filled in: (page, title, what it holds, modules) for every page with a module."""
    left = list(public_modules() if modules is None else modules)
    pages = []
    for page, title, about, patterns in API_GROUPS:
        chosen = []
        for pattern in patterns:
            matched = sorted(m for m in left if fnmatch.fnmatchcase(m, pattern))
            chosen += matched
            left = [m for m in left if m not in matched]
        if chosen:
            pages.append((page, title, about, chosen))
    return pages


def mathjax_folder() -> Path:
    """The MathJax 3 files of the sphinx-mathjax-offline wheel."""
    from importlib import metadata

    try:
        dist = metadata.distribution(MATHJAX_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise DocsError(f"the site's maths needs MathJax from {MATHJAX_DISTRIBUTION}: {INSTALL_HINT}") from None
    folder = Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax"))
    if not (folder / "tex-chtml.js").is_file():
        raise DocsError(f"{MATHJAX_DISTRIBUTION} is installed but {folder / 'tex-chtml.js'} is missing; "
                        f"reinstall it: pip install --force-reinstall {MATHJAX_DISTRIBUTION}")
    return folder


def copy_mathjax(static_folder) -> None:
    """Copy ``MATHJAX_PARTS`` into ``static_folder``/mathjax."""
    source, dest = mathjax_folder(), Path(static_folder) / "mathjax"
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, dest / part, dirs_exist_ok=True)
        else:
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, dest / part)


def _tools():
    missing = [name for name in ("sphinx", "myst_nb", "furo", "jupytext", "nbclient", "ipykernel")
               if importlib.util.find_spec(name) is None]
    if missing:
        raise DocsError(f"building the site needs {', '.join(missing)}: {INSTALL_HINT}")
    mathjax_folder()


# --------------------------------------------------------------------------- staging

_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _local_target(target):
    """The path part of a relative link target, or None for a URL, a mail link or an anchor."""
    if not target or target.startswith("#") or urllib.parse.urlsplit(target).scheme:
        return None
    return urllib.parse.unquote(target.split("#", 1)[0])


def _stage_markdown(text, page, root, stage, module_pages, tutorials, pages) -> str:
    """``text`` of ``page`` (a path in the checkout) with its links pointed into the site.

    A link to a tutorial script goes to its page, one to a module of the package to its API
    page; any other file that exists in the checkout and is not one of ``pages`` (staged
    as pages) is copied into the staging folder at the same path (Sphinx then copies it into
    the site). Links in fenced code are left alone.
    """
    page_dir = (root / page).parent
    out, fenced = [], False

    def relink(match):
        path = _local_target(match.group(2))
        if path is None:
            return match.group(0)
        source = (page_dir / path).resolve()
        fragment = match.group(2)[len(match.group(2).split("#", 1)[0]):]
        try:
            relative = source.relative_to(root.resolve()).as_posix()
        except ValueError:
            return match.group(0)                    # outside the checkout: left for the checks to report
        if relative in ("README.md", "tutorials/README.md"):    # staged as the index pages
            return match.group(1) + _relative(relative.replace("README", "index"), page) + fragment + match.group(3)
        if relative in tutorials:
            return match.group(1) + _relative(tutorials[relative], page) + fragment + match.group(3)
        module = _module_of(relative)
        if module in module_pages:                   # the label before the module's section (_api_page)
            return match.group(1) + f"#{_module_label(module)}" + match.group(3)
        if source.is_file() and relative not in pages:
            (stage / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, stage / relative)
        return match.group(0)

    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            fenced = not fenced
        out.append(line if fenced else _LINK.sub(relink, line))
    return "".join(out)


def _module_of(relative):
    """"lrlc_np/ops/conv.py" -> "lrlc_np.ops.conv", "lrlc_np/ops/" -> "lrlc_np.ops"; else None."""
    if not relative.startswith("lrlc_np"):
        return None
    parts = relative.rstrip("/").removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _relative(target, page) -> str:
    return os.path.relpath(target, os.path.dirname(page) or ".").replace(os.sep, "/")


def _toctree(entries, hidden=True, caption=None, maxdepth=2) -> str:
    lines = ["", "```{toctree}"]
    if hidden:
        lines.append(":hidden:")
    if caption:
        lines.append(f":caption: {caption}")
    lines.append(f":maxdepth: {maxdepth}")
    lines.append("")
    lines += entries
    return "\n".join(lines + ["```", ""])


def _api_page(title, about, modules) -> str:
    lines = [title, "=" * len(title), "", about[0].upper() + about[1:] + ".", ""]
    for module in modules:
        heading = f"``{module}``"
        lines += [f".. _{_module_label(module)}:", "", heading, "-" * len(heading), "",
                  f".. automodule:: {module}", ""]
    return "\n".join(lines)


def _module_label(module) -> str:
    """The label of a module's section in the API reference: what Markdown links to."""
    return "api-" + module.replace(".", "-").replace("_", "-")


def _api_index(pages) -> str:
    lines = ["# API reference", "",
             "Generated from the docstrings of the package, so every shape, formula and derivation "
             "appears here as it is written in the code. The docstrings are plain text: their "
             "formulas and shape tables are shown as written, in a fixed-width font, and a name in "
             "``code`` links to the function or module it names.", "",
             "| page | modules |", "|---|---|"]
    for page, title, about, modules in pages:
        names = ", ".join(f"`{m}`" for m in modules)
        lines.append(f"| [{title}]({page}.rst): {about} | {names} |")
    return "\n".join(lines) + "\n" + _toctree([f"{page}.rst" for page, *_ in pages])


_QUICK_NOTE = ("```{note}\nThis page was built in quick mode (`lrlc docs --quick`, LRLC_NP_QUICK=1): "
               "its training runs are shortened, so its numbers are not those of a full run.\n```")


def _add_quick_note(path) -> None:
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    titles = [n for n, cell in enumerate(notebook.cells)
              if cell.cell_type == "markdown" and cell.source.lstrip().startswith("# ")]
    at = titles[0] + 1 if titles else 0              # after the cell with the page's title
    notebook.cells.insert(at, nbformat.v4.new_markdown_cell(_QUICK_NOTE))
    nbformat.write(notebook, path)


def stage(stage_dir, root=None, quick=False, tutorials=None, modules=None, timeout=600, progress=None) -> dict:
    """Write the site's sources into ``stage_dir``; returns what was staged.

    root       the source checkout (default: the one this package comes from)
    tutorials  the tutorial scripts to execute (default: every ``tutorials/NN_*.py``)
    modules    the modules of the API reference (default: every public module)
    """
    from .. import notebooks

    root = Path(root) if root is not None else source_root()
    stage_dir = Path(stage_dir)
    log = progress or (lambda line: None)
    readme = root / "README.md"
    if not readme.is_file():
        raise DocsError(f"no README.md in {root}: build the site from a source checkout")
    pages = [p for p in PAGES if (root / p).is_file()] + performance_pages(root)
    missing = [p for p in PAGES if not (root / p).is_file()]
    if missing or not performance_pages(root):
        raise DocsError(f"{root} lacks {', '.join(missing) or 'a performance page'} (looked for "
                        f"{', '.join(PAGES + PERFORMANCE_PAGES)}); build the site from a full source checkout")

    scripts = list(tutorials) if tutorials is not None else notebooks.tutorial_scripts(root / "tutorials")
    tutorial_pages = {f"tutorials/{Path(s).name}": f"tutorials/{Path(s).stem}.ipynb" for s in scripts}
    api = api_pages(modules)
    module_pages = {m: page for page, _, _, ms in api for m in ms}

    # the tutorials, executed
    started = time.perf_counter()
    notebook_paths = []
    if scripts:
        log(f"executing {len(scripts)} tutorial(s){' in quick mode' if quick else ''}")
        try:
            notebook_paths = notebooks.make_notebooks(stage_dir / "tutorials", [Path(s) for s in scripts],
                                                      quick=quick, timeout=timeout,
                                                      progress=lambda name: log(f"  {name}"))
        except notebooks.NotebookError as err:
            raise DocsError(str(err)) from None
        if quick:
            for path in notebook_paths:
                _add_quick_note(path)
    seconds_tutorials = time.perf_counter() - started

    def copy_page(page, dest_name=None, extra=""):
        text = _stage_markdown((root / page).read_text(encoding="utf-8"), page, root, stage_dir,
                               module_pages, tutorial_pages, {"README.md", "tutorials/README.md", *pages})
        target = stage_dir / (dest_name or page)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + extra, encoding="utf-8")

    top = [*(["tutorials/index"] if scripts else []), "api/index", *(p.removesuffix(".md") for p in pages)]
    copy_page("README.md", "index.md", _toctree(top))
    for page in pages:
        copy_page(page)
    if scripts:
        entries = [f"{Path(s).stem}.ipynb" for s in scripts]
        index = root / "tutorials" / "README.md"
        if index.is_file():
            copy_page("tutorials/README.md", "tutorials/index.md",
                      _toctree(entries, hidden=False, caption="The tutorials", maxdepth=1))
        else:
            (stage_dir / "tutorials" / "index.md").write_text("# Tutorials\n" + _toctree(entries, hidden=False),
                                                              encoding="utf-8")
    (stage_dir / "api").mkdir(exist_ok=True)
    for page, title, about, mods in api:
        (stage_dir / "api" / f"{page}.rst").write_text(_api_page(title, about, mods), encoding="utf-8")
    (stage_dir / "api" / "index.md").write_text(_api_index(api), encoding="utf-8")
    return {"pages": ["index.md", *pages], "tutorials": notebook_paths, "api": api,
            "seconds_tutorials": seconds_tutorials}


# --------------------------------------------------------------------------- building

def _prepare_dest(dest) -> Path:
    """DEST absent, empty, or a site this command built before (then emptied); else an error."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise DocsError(f"{dest} is a file; give a folder for the site")
    if dest.is_dir() and any(dest.iterdir()):
        if not (dest / ".buildinfo").is_file():
            raise DocsError(f"{dest} is not empty and holds no site built by lrlc docs (no .buildinfo); "
                            "give an empty or new folder")
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def build_site(dest, quick=False, root=None, tutorials=None, modules=None, timeout=600, progress=None,
               keep_sources=None) -> dict:
    """Build the site into ``dest``; returns {"dest", "pages", "bytes", "seconds", ...}.

    quick         execute the tutorials with LRLC_NP_QUICK=1 (each one's training shrunk to seconds)
    root          the source checkout to build from (default: the one this package comes from)
    tutorials     the tutorial scripts to include (default: all); modules: the API's modules
    timeout       seconds one tutorial cell may run
    progress      optional callable taking a progress line
    keep_sources  optional folder: keep the staged sources there (to look at what Sphinx read)

    Raises DocsError, with the warnings, when a tool is missing, a tutorial fails, Sphinx
    warns (every warning is an error) or ``check_site`` finds a fault.
    """
    _tools()
    log = progress or (lambda line: None)
    dest = _prepare_dest(dest)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lrlc-docs-") as tmp:
        sources = Path(keep_sources) if keep_sources else Path(tmp) / "sources"
        if sources.exists():
            shutil.rmtree(sources)
        sources.mkdir(parents=True)
        staged = stage(sources, root=root, quick=quick, tutorials=tutorials, modules=modules,
                       timeout=timeout, progress=log)
        log("building the HTML with Sphinx")
        run_sphinx(sources, dest, Path(tmp) / "doctrees", root=root)
    problems = check_site(dest)
    if problems:
        raise DocsError(f"the site in {dest} has {len(problems)} fault(s):\n" + "\n".join(problems[:40]))
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    return {"dest": dest, "pages": sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.html")),
            "bytes": size, "seconds": time.perf_counter() - started,
            "seconds_tutorials": staged["seconds_tutorials"], "quick": quick}


def run_sphinx(sources, dest, doctrees, settings=None, root=None) -> None:
    """Build the HTML of the staged ``sources`` into ``dest`` with docs/site/conf.py.

    Sphinx runs in a child process (``python -m sphinx``, with this process's import path),
    because autodoc changes the functions it documents (it sets their ``__signature__``):
    building the site leaves the caller's modules as they were. Every warning is an error,
    and all of them are collected. settings: {name: value} given to Sphinx as ``-D``, e.g.
    {"lrlc_plain_docstrings": "0"} to read the docstrings as reStructuredText.
    Raises DocsError with the warnings, the staged paths named as the checkout's files.
    """
    import subprocess
    import sys

    warnings = Path(doctrees).parent / "sphinx-warnings.txt"
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-E", "-q", "--no-color",
               "-c", str(config_folder()), "-d", str(doctrees), "-w", str(warnings)]
    for name, value in (settings or {}).items():
        command += ["-D", f"{name}={value}"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p and os.path.isdir(p)))
    done = subprocess.run(command + [str(sources), str(dest)], env=env, capture_output=True, text=True)
    text = warnings.read_text(encoding="utf-8").strip() if warnings.is_file() else ""
    if done.returncode != 0 or text:
        detail = text or done.stderr.strip()[-3000:] or f"sphinx exited with status {done.returncode}"
        raise DocsError("Sphinx reported problems (every warning fails the build):\n"
                        + _unstage(detail, sources, root))


def _unstage(text, sources, root) -> str:
    """Sphinx's messages with the staged paths turned back into the checkout's files."""
    root = Path(root) if root is not None else source_root()
    names = {"index.md": "README.md", "tutorials/index.md": "tutorials/README.md"}

    def original(match):
        staged = match.group(1)
        if staged.endswith(".ipynb"):
            return str(root / staged.removesuffix(".ipynb")) + ".py (as an executed notebook)"
        staged = names.get(staged, staged)
        return str(root / staged) if (root / staged).is_file() else f"(generated) {staged}"

    return re.sub(re.escape(str(sources)) + r"/([^\s:]+)", original, text)


# --------------------------------------------------------------------------- checking

class _Links(html.parser.HTMLParser):
    """The ids, links and loaded resources of one HTML page."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.resources = set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        for name in ("src", "data-src", "poster"):
            if attrs.get(name):
                self.resources.append((tag, attrs[name]))
        if tag == "link" and attrs.get("href") and (attrs.get("rel") or "") != "canonical":
            self.resources.append((tag, attrs["href"]))
        if attrs.get("srcset"):
            self.resources.extend((tag, part.split()[0]) for part in attrs["srcset"].split(",") if part.strip())


_CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""")


def check_site(dest) -> list[str]:
    """Faults of the built site, one line each: [] when it reads offline and its links resolve.

    - a page, stylesheet or script that loads anything from another host (a script, style,
      font, image or frame with an http(s) or protocol-relative address);
    - a relative link or resource whose file is not in the site, or whose #anchor is not an
      id of the page it points to.
    """
    dest = Path(dest).resolve()
    pages = {}
    for path in sorted(dest.rglob("*.html")):
        parser = _Links()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        pages[path] = parser
    problems = []

    def external(url):
        return url.startswith("//") or urllib.parse.urlsplit(url).scheme in ("http", "https")

    for path, parser in pages.items():
        where = path.relative_to(dest).as_posix()
        for tag, url in parser.resources:
            if external(url):
                problems.append(f"{where}: <{tag}> loads {url} from another host")
            else:
                problems += _check_target(dest, path, url, pages, where, f"<{tag}>")
        for url in parser.links:
            if not external(url) and not url.startswith(("mailto:", "javascript:", "data:")):
                problems += _check_target(dest, path, url, pages, where, "link")
    for sheet in list(dest.rglob("*.css")) + list(dest.rglob("*.js")):
        text = sheet.read_text(encoding="utf-8", errors="replace")
        where = sheet.relative_to(dest).as_posix()
        urls = _CSS_URL.findall(text) if sheet.suffix == ".css" else re.findall(
            r"""\bsrc\s*=\s*['"](https?://[^'"]+)""", text)
        problems += [f"{where}: loads {url} from another host" for url in urls if external(url)]
    return problems


def _check_target(dest, page, url, pages, where, what) -> list[str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("data", "blob", "about") or parts.scheme:
        return []
    path = urllib.parse.unquote(parts.path)
    target = (page.parent / path).resolve() if path else page
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    try:
        target.relative_to(dest)
    except ValueError:
        return [f"{where}: {what} {url} points outside the site"]
    if not target.is_file():
        return [f"{where}: {what} {url}: no such file in the site"]
    if parts.fragment and target in pages and urllib.parse.unquote(parts.fragment) not in pages[target].ids:
        return [f"{where}: {what} {url}: no id {parts.fragment!r} in {target.relative_to(dest).as_posix()}"]
    return []


# --------------------------------------------------------------------------- command line

def _positive_seconds(text) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def add_parser(commands, handler):
    """Register ``lrlc docs`` on the ``lrlc`` subcommands; ``handler(args)`` runs it."""
    docs = commands.add_parser(
        "docs", help="build the documentation site (tutorials, API reference, guides) into a folder",
        description="Build the documentation site into DEST: the README as the home page, every tutorial "
                    "executed with its figures and maths, the API reference from the docstrings, "
                    "TEACHING.md, EXPERIMENTS.md and the performance page. Offline: nothing is fetched "
                    "while building or reading. Open DEST/index.html in a browser, or publish DEST as "
                    'it is (GitHub Pages: .github/workflows/docs.yml). Needs: pip install -e ".[docs]".')
    docs.add_argument("dest", metavar="DEST",
                      help="folder for the site: new, empty, or a site built here before (replaced)")
    docs.add_argument("--quick", action="store_true",
                      help="execute the tutorials with LRLC_NP_QUICK=1: each one's training shrunk to "
                           "seconds (the pages say so)")
    docs.add_argument("--timeout", type=_positive_seconds, default=600.0,
                      help="seconds one tutorial cell may run (default: 600)")
    docs.add_argument("--keep-sources", metavar="DIR", default=None,
                      help="also keep the staged sources that Sphinx read in DIR (for looking into a fault)")
    docs.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    docs.set_defaults(handler=handler)
    return docs
