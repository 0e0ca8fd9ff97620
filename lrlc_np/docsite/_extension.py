"""The site's Sphinx extension: plain-text docstrings, links between them, offline MathJax.

Listed in docs/site/conf.py. It

- turns every docstring autodoc reads into reStructuredText that shows it as written
  (``plaintext.to_rst``), with a ``code`` span that names a documented function, class or
  module made into a link to it;
- in the Markdown pages and notebooks, makes ``code`` that names a documented module or
  function (``lrlc_np.ops.conv2d_forward``, ``lrlc_np/reference.py``) a link to its entry, and
  ``code`` that names a page of the site (``TEACHING.md``, ``tutorials/01_convolution.py``) a
  link to that page;
- leaves out the "Alias for field number N" entries of NamedTuple fields;
- copies MathJax into ``_static/mathjax`` of the built site (``copy_mathjax``).
"""

from __future__ import annotations

import importlib
import inspect
import re
import types

from docutils import nodes
from sphinx import addnodes

from . import copy_mathjax
from .plaintext import to_rst


def setup(app):
    # False reads the docstrings as reStructuredText, as plain Sphinx does (they then fail the build)
    app.add_config_value("lrlc_plain_docstrings", True, "env", types=frozenset({bool, int}))
    app.connect("builder-inited", _collect_documented)
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("doctree-read", _link_code)
    app.connect("doctree-resolved", _link_pages)
    app.connect("build-finished", _finish)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def _documented_modules(app) -> list[str]:
    """The modules named by ``.. automodule::`` in the staged API pages."""
    names = []
    for path in sorted((app.srcdir / "api").glob("*.rst")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(".. automodule:: "):
                names.append(line.split("::", 1)[1].strip())
    return names


def _collect_documented(app):
    """The full names of what autodoc will document: the link targets a docstring may use."""
    documented = set()
    for name in _documented_modules(app):
        module = importlib.import_module(name)
        documented.add(name)
        for member_name, member in vars(module).items():
            if member_name.startswith("_") or getattr(member, "__module__", None) != name:
                continue
            if (inspect.isfunction(member) or inspect.isclass(member)) and inspect.getdoc(member):
                documented.add(f"{name}.{member.__qualname__}")
                if inspect.isclass(member):
                    for attr, value in vars(member).items():
                        if not attr.startswith("_") and inspect.isfunction(value) and inspect.getdoc(value):
                            documented.add(f"{name}.{member.__qualname__}.{attr}")
    app.env.lrlc_documented = documented


def _canonical(obj):
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    if inspect.isfunction(obj) or inspect.isclass(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    return None


def _lookup(dotted):
    """The object a dotted name (``lrlc_np.ops.conv.conv2d_forward``) stands for, or None."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        module_name = ".".join(parts[:split])
        if not module_name.startswith("lrlc_np"):
            return None
        try:
            obj = importlib.import_module(module_name)
        except ImportError:
            continue
        for part in parts[split:]:
            obj = getattr(obj, part, None)
            if obj is None:
                return None
        return obj
    return None


def _resolver(app, name, what, obj):
    """resolve(dotted name) -> the documented full name it stands for, seen from ``name``."""
    documented = getattr(app.env, "lrlc_documented", set())
    module = name if what == "module" else getattr(obj, "__module__", None) or name.rsplit(".", 1)[0]
    scopes = []
    if what in ("method", "attribute", "property", "class"):
        scopes.append(name if what == "class" else name.rsplit(".", 1)[0])
    parts = module.split(".")
    scopes += [".".join(parts[:n]) for n in range(len(parts), 0, -1)]

    def resolve(dotted):
        for candidate in [dotted] + [f"{scope}.{dotted}" for scope in scopes]:
            if candidate in documented:
                return candidate
            if candidate.startswith("lrlc_np"):
                target = _canonical(_lookup(candidate))
                if target in documented:
                    return target
        return None

    return resolve


def _process_docstring(app, what, name, obj, options, lines):
    if not app.config.lrlc_plain_docstrings:
        return
    converted = to_rst(lines, resolve=_resolver(app, name, what, obj))
    lines[:] = converted + [""]


def _skip_member(app, what, name, obj, skip, options):
    doc = getattr(obj, "__doc__", None) or ""
    if isinstance(doc, str) and doc.startswith("Alias for field number"):
        return True
    return None


def _finish(app, exception):
    if exception is None and app.builder.format == "html":
        copy_mathjax(app.outdir / "_static")


_CODE_NAME = re.compile(r"^(lrlc_np(?:\.\w+)*)(?:\(\))?$")
_CODE_PATH = re.compile(r"^(lrlc_np(?:/\w+)*)(?:\.py|/)?$")


def _page_names(env, docname) -> dict:
    """{code text: page} for the pages of the site, as the Markdown files name them."""
    names = {}
    folder = docname.rpartition("/")[0]
    for doc in env.found_docs:
        source = {"index": "README.md", "tutorials/index": "tutorials/README.md"}.get(doc)
        if source is None:
            suffix = ".py" if doc.startswith("tutorials/") else ".md"
            source = doc + suffix
        names[source] = doc
        if folder and source.startswith(folder + "/"):
            names[source[len(folder) + 1:]] = doc
    return names


def _link_code(app, doctree):
    """Wrap ``code`` naming a documented object or a page of the site in a cross-reference."""
    docname = app.env.docname
    if docname.startswith("api/"):
        return                                       # the docstrings link through to_rst already
    documented = getattr(app.env, "lrlc_documented", set())
    pages = _page_names(app.env, docname)
    for literal in list(doctree.findall(nodes.literal)):
        if isinstance(literal.parent, (nodes.reference, addnodes.pending_xref)):
            continue
        text = literal.astext()
        if text in pages and pages[text] != docname:
            literal["lrlc_page"] = pages[text]       # linked in _link_pages, once the URIs are known
            continue
        name = _CODE_NAME.match(text) or _CODE_PATH.match(text)
        target = _canonical(_lookup(name.group(1).replace("/", "."))) if name else None
        if target not in documented:
            continue
        xref = addnodes.pending_xref("", refdomain="py", reftype="obj", reftarget=target,
                                     refexplicit=True, refwarn=False, refdoc=docname)
        literal.replace_self(xref)
        xref += literal


def _link_pages(app, doctree, docname):
    """Wrap the ``code`` that ``_link_code`` marked as naming a page in a link to that page."""
    for literal in list(doctree.findall(nodes.literal)):
        page = literal.get("lrlc_page")
        if page and hasattr(app.builder, "get_relative_uri"):
            link = nodes.reference("", "", internal=True, refuri=app.builder.get_relative_uri(docname, page))
            literal.replace_self(link)
            link += literal
