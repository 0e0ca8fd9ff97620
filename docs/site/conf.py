"""Sphinx configuration of the lrlc_np documentation site.

``lrlc docs DEST`` stages the pages (lrlc_np/docsite) and builds them with this file; every
warning is an error there. Nothing here loads from the network: MathJax is copied into the
site (``mathjax_path`` is relative to ``_static``), Furo uses the system's fonts, and
MyST-NB's widget scripts are switched off.
"""

import lrlc_np

project = "lrlc_np"
author = "the lrlc_np authors"
copyright = "lrlc_np authors, MIT licence"
release = version = lrlc_np.__version__

extensions = [
    "myst_nb",                          # Markdown pages and executed notebooks (MyST parser included)
    "sphinx.ext.autodoc",               # the API reference from the docstrings
    "sphinx.ext.mathjax",
    "sphinx.ext.githubpages",           # .nojekyll, so GitHub Pages serves _static/ as it is
    "lrlc_np.docsite._extension",       # plain-text docstrings, links between them, MathJax copied in
]

root_doc = "index"
exclude_patterns = ["**.ipynb_checkpoints", "doctrees"]
smartquotes = False                     # quotes and dashes stay as typed: '"row_col"' is a string
highlight_language = "text"            # docstring blocks and untagged code fences: no colouring guessed

# Markdown (MyST): $...$ and $$...$$ maths, \begin{align} blocks, anchors on headings for #links
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 4

# notebooks: executed before the build by lrlc_np.notebooks, shown with their outputs
nb_execution_mode = "off"
nb_merge_streams = True
nb_ipywidgets_js = {}                   # no widget scripts from a CDN

# the API reference: every public member, in source order, docstrings as written
autodoc_default_options = {"members": True, "member-order": "bysource", "ignore-module-all": True}
autodoc_docstring_signature = False     # a first line like "x (N, C, H, W) -> y" is text, not a signature
autodoc_preserve_defaults = True        # dtype=numpy.float32 as written, not its repr
autodoc_typehints = "signature"
add_module_names = False

# MathJax 3, copied from the sphinx-mathjax-offline wheel into _static/mathjax by the extension
mathjax_path = "mathjax/tex-chtml.js"

html_theme = "furo"
html_title = f"lrlc_np {release}"
html_static_path = ["_static"]
html_css_files = ["lrlc.css"]
html_favicon = "_static/favicon.svg"
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}
