"""The documentation site (``lrlc docs``): built offline in quick mode, then read in a real browser.

Three parts:

- the docstring converter (``lrlc_np.docsite.plaintext``): every docstring of the package
  becomes reStructuredText that parses without a message, and keeps its text as written;
- the build: one quick-mode site of the whole project, plus a check page (a percent-format
  script with inline and display maths and an inline figure, written here, so the maths and
  figure checks can fail), and small builds that must fail (a broken link, a docstring that
  does not parse);
- the browser: Debian's headless Chromium, driven by Selenium through its chromedriver,
  reads every page from a server on 127.0.0.1 with every other host unresolvable: no console
  error, no request to another host, every maths block typeset by MathJax with no raw TeX
  left, every figure loaded (natural width > 0), every internal link to a file and an id
  that exist. Screenshots of the home page, a tutorial, the check page and an API page are
  kept under the build folder ($LRLC_NP_SITE_TEST_DIR, else a pytest temporary folder).

Needs the docs extra (``pip install -e ".[docs]"``) and, for the browser, ``chromium`` and
``chromedriver`` (Debian: ``apt-get install chromium chromium-driver``; .ci/run installs
both). Where they are missing these tests skip with the reason, except in CI (``CI`` set),
where they fail.
"""

import functools
import http.server
import importlib.util
import inspect
import io
import json
import os
import re
import shutil
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from lrlc_np import docsite
from lrlc_np.docsite.plaintext import to_rst

ROOT = Path(__file__).resolve().parent.parent
IN_CI = bool(os.environ.get("CI"))
DOCS_TOOLS = ("sphinx", "myst_nb", "furo", "jupytext", "nbclient", "ipykernel", "docutils")


def _unavailable(reason):
    """Skip with ``reason``; in CI, where .ci/run installs everything, fail instead."""
    if IN_CI:
        pytest.fail(f"{reason} (.ci/run installs it)")
    pytest.skip(reason)


def _need_docs_tools():
    missing = [name for name in DOCS_TOOLS if importlib.util.find_spec(name) is None]
    if missing:
        _unavailable(f"the docs extra is not installed ({', '.join(missing)} missing): pip install -e \".[docs]\"")
    try:
        docsite.mathjax_folder()
    except docsite.DocsError as err:
        _unavailable(str(err))


# --------------------------------------------------------------------------- the docstring converter

def _parse(rst):
    """The docutils tree of ``rst`` and the messages (warnings, errors) parsing it gave."""
    from docutils.core import publish_doctree

    stream = io.StringIO()
    tree = publish_doctree(rst, settings_overrides={"warning_stream": stream, "report_level": 1,
                                                    "halt_level": 5})
    return tree, stream.getvalue()


def _package_docstrings():
    import lrlc_np

    found = []
    for name in docsite.public_modules():
        module = sys.modules.get(name) or __import__(name, fromlist=["_"])
        found.append((name, inspect.getdoc(module)))
        for member_name, member in vars(module).items():
            if member_name.startswith("_") or getattr(member, "__module__", None) != name:
                continue
            if inspect.isfunction(member) or inspect.isclass(member):
                found.append((f"{name}.{member_name}", inspect.getdoc(member)))
                if inspect.isclass(member):
                    found += [(f"{name}.{member_name}.{a}", inspect.getdoc(v)) for a, v in vars(member).items()
                              if not a.startswith("_") and inspect.isfunction(v)]
    assert lrlc_np.__name__ in dict(found)
    return [(name, doc) for name, doc in found if doc]


def test_every_docstring_of_the_package_parses_without_a_message():
    pytest.importorskip("docutils", reason='docutils comes with the docs extra: pip install -e ".[docs]"')
    docstrings = _package_docstrings()
    assert len(docstrings) > 200, "expected the docstrings of the whole package"
    failures = []
    for name, doc in docstrings:
        _, messages = _parse("\n".join(to_rst(doc)))
        if messages:
            failures.append(f"{name}: {messages.strip()}")
    assert not failures, "\n".join(failures[:10])


HOSTILE = """\
Sums over N*H_out*W_out patches with sum_k alpha_k, calls f(*args) and keeps |x| and [1]_ as typed.
A *useful* flop, ``cols``s and ``x_[i]``; 2 ** 3 = 8 and a_ b_ c_.
"""


def test_plain_text_that_would_be_markup_is_shown_as_typed():
    pytest.importorskip("docutils", reason='docutils comes with the docs extra: pip install -e ".[docs]"')
    tree, messages = _parse("\n".join(to_rst(HOSTILE)))
    assert messages == ""
    shown = " ".join(tree.astext().split())
    # every character a reader sees is the docstring's, minus the code and emphasis markers
    expected = " ".join(HOSTILE.replace("``", "").replace("*useful*", "useful").split())
    assert shown == expected
    emphasis = [node.astext() for node in tree.findall(lambda n: n.tagname == "emphasis")]
    literals = [node.astext() for node in tree.findall(lambda n: n.tagname == "literal")]
    assert emphasis == ["useful"] and literals == ["cols", "x_[i]"]


def test_formulas_and_shape_tables_are_literal_blocks_kept_line_for_line():
    pytest.importorskip("docutils", reason='docutils comes with the docs extra: pip install -e ".[docs]"')
    from lrlc_np.ops import conv

    tree, messages = _parse("\n".join(to_rst(inspect.getdoc(conv.conv2d_backward))))
    assert messages == ""
    blocks = [node.astext() for node in tree.findall(lambda n: n.tagname == "literal_block")]
    # the shape signature (two lines) and the three gradient formulas under "From Y = ...:"
    assert blocks[0] == ("dy (N, C_out, H_out, W_out) -> dx (N, C_in, H, W), dweight (C_out, C_in, kh, kw),\n"
                         "dbias (C_out,) or None when the forward pass had no bias")
    assert blocks[1].splitlines() == [
        "dW = dY^T X          (C_out, M) @ (M, R)",
        "db = sum of dY over its M rows",
        "dX = dY W            (M, C_out) @ (C_out, R), then dx = col2im(dX)",
    ]
    paragraphs = [node.astext() for node in tree.findall(lambda n: n.tagname == "paragraph")]
    assert "From Y = X W^T + 1 b^T, with dY the (M, C_out) matrix of dy:" in paragraphs


def test_code_that_names_a_documented_object_becomes_a_link():
    known = {"lrlc_np.ops.conv.conv2d_forward"}
    rst = "\n".join(to_rst("Same as ``conv2d_forward`` but not ``x + 1``.",
                           resolve=lambda name: f"lrlc_np.ops.conv.{name}" if f"lrlc_np.ops.conv.{name}" in known
                           else None))
    assert ":py:obj:`conv2d_forward <lrlc_np.ops.conv.conv2d_forward>`" in rst
    assert "``x + 1``" in rst


# --------------------------------------------------------------------------- the build

def _tiny_checkout(root, readme):
    """A source checkout with the pages the site needs and nothing else."""
    (root / "docs").mkdir(parents=True)
    (root / "README.md").write_text(readme, encoding="utf-8")
    (root / "TEACHING.md").write_text("# Teaching\n\nSee the [home page](README.md).\n", encoding="utf-8")
    (root / "EXPERIMENTS.md").write_text("# Experiments\n\nNone yet.\n", encoding="utf-8")
    (root / "docs" / "performance-history.md").write_text("# Performance\n\nNone yet.\n", encoding="utf-8")
    return root


def test_a_broken_internal_link_fails_the_build_and_names_it(tmp_path):
    _need_docs_tools()
    root = _tiny_checkout(tmp_path / "checkout", "# Tiny\n\nRead [the guide](TEACHING.md), [this](missing.md) "
                                                 "and [that section](#no-such-heading).\n")
    with pytest.raises(docsite.DocsError) as failure:
        docsite.build_site(tmp_path / "site", root=root, tutorials=[], modules=["lrlc_np.ops.dense"])
    message = str(failure.value)
    assert "README.md:3" in message and "missing.md" in message and "no-such-heading" in message


def test_markdown_links_to_the_checkout_lead_into_the_site(tmp_path):
    """A link to a module's file goes to its API entry, one to README.md to the home page,
    and a linked file (a figure, a script) is copied into the site."""
    _need_docs_tools()
    root = _tiny_checkout(tmp_path / "checkout", "# Tiny\n\nThe [dense layer](lrlc_np/ops/dense.py), "
                                                 "[a figure](docs/figure.png) and [a script](tools/run.sh).\n")
    (root / "TEACHING.md").write_text("# Teaching\n\nBack [home](README.md#tiny).\n", encoding="utf-8")
    (root / "docs" / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "tools").mkdir()
    (root / "tools" / "run.sh").write_text("echo hello\n", encoding="utf-8")
    site = docsite.build_site(tmp_path / "site", root=root, tutorials=[], modules=["lrlc_np.ops.dense"])
    home = (site["dest"] / "index.html").read_text(encoding="utf-8")
    assert 'href="api/ops.html#api-lrlc-np-ops-dense"' in home
    assert re.search(r'href="(_downloads/[^"]+/figure.png)"', home) and re.search(r'href="(_downloads/[^"]+/run.sh)"', home)
    assert 'href="index.html#tiny"' in (site["dest"] / "TEACHING.html").read_text(encoding="utf-8")


DOES_NOT_PARSE = '''\
"""A module whose docstring is not reStructuredText.

Calls f(*args) for each of the N*H_out*W_out patches.
"""


def gather(x):
    """Every patch as a row:
        cols = im2col(x)
      rows (n, i, j)
    """
'''


def test_a_docstring_that_does_not_parse_fails_the_build(tmp_path, monkeypatch):
    """Read as reStructuredText (lrlc_plain_docstrings=0, the converter off) the module's
    docstrings fail the build; as plain text they build, and are on the page as written."""
    _need_docs_tools()
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "plain_docs_module.py").write_text(DOES_NOT_PARSE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    root = _tiny_checkout(tmp_path / "checkout", "# Tiny\n\nThe [reference](api/index.md).\n")
    docsite.stage(tmp_path / "sources", root=root, tutorials=[], modules=["plain_docs_module"])
    with pytest.raises(docsite.DocsError) as failure:
        docsite.run_sphinx(tmp_path / "sources", tmp_path / "raw", tmp_path / "doctrees",
                           settings={"lrlc_plain_docstrings": 0}, root=root)
    assert "plain_docs_module" in str(failure.value) and "WARNING" in str(failure.value)
    site = docsite.build_site(tmp_path / "site", root=root, tutorials=[], modules=["plain_docs_module"])
    page = (site["dest"] / "api" / "tools.html").read_text(encoding="utf-8")
    assert "f(*args) for each of the N*H_out*W_out patches" in page
    assert "  cols = im2col(x)\nrows (n, i, j)" in page           # a literal block, spaces kept


def test_building_the_site_leaves_the_package_as_it_was(tmp_path):
    """Sphinx runs in a child process: autodoc's changes to the functions it documents (their
    __signature__) never reach the caller, whose tests compare the tiers' signatures."""
    _need_docs_tools()
    from lrlc_np.ops import normalization

    root = _tiny_checkout(tmp_path / "checkout", "# Tiny\n")
    docsite.build_site(tmp_path / "site", root=root, tutorials=[], modules=["lrlc_np.ops.normalization"])
    assert "__signature__" not in vars(normalization.batchnorm2d_forward)


def test_check_site_reports_external_resources_and_broken_links(tmp_path):
    (tmp_path / "index.html").write_text(
        '<html><head><script src="https://cdn.example.org/x.js"></script>'
        '<link rel="stylesheet" href="//fonts.example.org/f.css"></head><body id="top">'
        '<a href="missing.html">a</a> <a href="index.html#nowhere">b</a> <a href="#top">c</a>'
        '<a href="https://example.org/">an outside link is fine</a><img src="fig.png"></body></html>',
        encoding="utf-8")
    problems = docsite.check_site(tmp_path)
    assert len(problems) == 5, problems
    for fragment in ("cdn.example.org", "fonts.example.org", "missing.html", "'nowhere'", "fig.png"):
        assert any(fragment in p for p in problems), fragment


CHECK_PAGE = r'''
# %% [markdown]
# # Rendering check: maths and an inline figure
#
# Inline maths, $y_{n,o,i,j} = \sum_k \alpha_{k,i,j} (x \star B_k)_{n,o,i,j}$, and a display block:
#
# $$\frac{\partial L}{\partial \alpha_{k,i,j}} = \sum_{n,o} \frac{\partial L}{\partial y_{n,o,i,j}} z_{n,k,o,i,j}$$
#
# \begin{align}
# \mathrm{d}W &= \mathrm{d}Y^\top X \\
# \mathrm{d}X &= \mathrm{d}Y\, W
# \end{align}

# %%
import io

import matplotlib.pyplot as plt
from IPython.display import Image, display

fig, ax = plt.subplots(figsize=(4, 2.5))
ax.plot([0, 1, 2, 3], [0, 1, 4, 9], marker="o")
ax.set_title("an inline figure")
buffer = io.BytesIO()
fig.savefig(buffer, format="png", dpi=80)
display(Image(buffer.getvalue()))
'''
CHECK_NAME = "99_rendering_check"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The whole site in quick mode, with the check page among the tutorials."""
    _need_docs_tools()
    if not (ROOT / "TEACHING.md").is_file():
        pytest.skip("not a full source checkout (no TEACHING.md): the site is built from one")
    base = Path(os.environ.get("LRLC_NP_SITE_TEST_DIR") or tmp_path_factory.mktemp("site-test"))
    check = tmp_path_factory.mktemp("check-page") / f"{CHECK_NAME}.py"
    check.write_text(CHECK_PAGE, encoding="utf-8")
    from lrlc_np.notebooks import tutorial_scripts

    built = docsite.build_site(base / "site", quick=True, tutorials=tutorial_scripts() + [check], timeout=300)
    print(f"\nsite built in {built['seconds']:.0f} s (tutorials {built['seconds_tutorials']:.0f} s), "
          f"{built['bytes'] / 1e6:.1f} MB, {len(built['pages'])} pages, in {built['dest']}")
    return dict(built, base=base)


def test_the_site_has_every_page(site):
    from lrlc_np.notebooks import tutorial_scripts

    dest = site["dest"]
    expected = ["index.html", "api/index.html", "TEACHING.html", "EXPERIMENTS.html", "tutorials/index.html"]
    expected += [f"tutorials/{script.stem}.html" for script in tutorial_scripts()]
    expected += [f"api/{page}.html" for page, *_ in docsite.api_pages()]
    expected += [page.removesuffix(".md") + ".html" for page in docsite.performance_pages()]
    missing = [page for page in expected if not (dest / page).is_file()]
    assert not missing, missing
    assert (dest / ".nojekyll").is_file(), "GitHub Pages needs .nojekyll to serve _static/"


def test_every_public_module_is_in_the_api_reference(site):
    text = "".join(p.read_text(encoding="utf-8") for p in (site["dest"] / "api").glob("*.html"))
    missing = [m for m in docsite.public_modules() if f'id="module-{m}"' not in text]
    assert not missing, missing


def test_the_readme_links_code_paths_to_their_pages(site):
    home = (site["dest"] / "index.html").read_text(encoding="utf-8")
    # the README's reading-order table names files; on the site they lead to their pages
    assert re.search(r'href="api/reference.html#module-lrlc_np.reference"[^>]*><code[^>]*><span class="pre">'
                     r'lrlc_np/reference.py', home)
    assert re.search(r'href="tutorials/01_convolution.html"[^>]*><code[^>]*><span class="pre">'
                     r'tutorials/01_convolution.py', home)


def test_quick_pages_say_they_are_quick(site):
    page = (site["dest"] / "tutorials" / "01_convolution.html").read_text(encoding="utf-8")
    assert "built in quick mode" in page


# --------------------------------------------------------------------------- the browser

def _browser_paths():
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                   None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        _unavailable(f"no {'chromium' if browser is None else 'chromedriver'} on PATH: the browser test "
                     "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    if importlib.util.find_spec("selenium") is None:
        _unavailable('selenium is not installed: pip install -e ".[docs]"')
    return browser, driver


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# collects what a reader gets from the page, once MathJax has typeset it and its images are decoded
READ_PAGE = """
const done = arguments[arguments.length - 1];
const typeset = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
const images = Array.from(document.images);
images.forEach(i => { i.loading = "eager"; });
const settled = Promise.all([typeset.catch(() => null), ...images.map(i => i.decode().catch(() => null))]);
Promise.race([settled, new Promise(r => setTimeout(r, 20000))]).then(() => {
  const maths = Array.from(document.querySelectorAll(".math"));
  const hidden = "pre, code, script, style, textarea, mjx-container, .highlight";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {acceptNode: n =>
      n.parentElement.closest(hidden) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  let text = "";
  while (walker.nextNode()) text += walker.currentNode.nodeValue + "\\n";
  done({
    maths: maths.length,
    display: maths.filter(m => m.tagName === "DIV").length,
    unrendered: maths.filter(m => !m.querySelector("mjx-container")).map(m => m.textContent.slice(0, 80)),
    merrors: Array.from(document.querySelectorAll("mjx-merror")).map(e => e.textContent.slice(0, 80)),
    images: images.map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth, complete: i.complete,
                              output: !!i.closest(".cell_output")})),
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
    ids: Array.from(document.querySelectorAll("[id], a[name]")).map(e => e.id || e.getAttribute("name")),
    text: text,
  });
});
"""
RAW_MATHS = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^$\s][^$\n]*\$")


@pytest.fixture(scope="module")
def reading(site):
    """Every page of the site read in headless Chromium: {page: what the reader got}."""
    browser, driver_path = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    dest = site["dest"]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(dest)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1400", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):   # no name but this machine resolves
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_script_timeout(60)
    shots = site["base"] / "screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    pages = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.html"))
    read, started = {}, time.perf_counter()
    try:
        for page in pages:
            driver.get(base + page)
            got = driver.execute_async_script(READ_PAGE)
            got["console"] = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            got["requests"], got["failed"] = _network(driver.get_log("performance"))
            read[page] = got
        tutorial = next((p for p in pages if p.startswith("tutorials/") and CHECK_NAME not in p
                         and any(i["output"] for i in read[p]["images"])), "tutorials/01_convolution.html")
        for name, page in (("home", "index.html"), ("tutorial", tutorial),
                           ("rendering-check", f"tutorials/{CHECK_NAME}.html"), ("api", "api/ops.html")):
            driver.get(base + page)
            driver.execute_async_script(READ_PAGE)
            driver.save_screenshot(str(shots / f"{name}.png"))
            for what, selectors in (("figure", ["article .cell_output img", "article img"]),
                                    ("maths", ["article div.math", "article span.math"])):
                found = driver.execute_script(
                    "const e = arguments[0].map(s => document.querySelector(s)).find(e => e);"
                    " if (e) e.scrollIntoView({block: 'center', behavior: 'instant'}); return !!e;", selectors)
                if found:
                    driver.save_screenshot(str(shots / f"{name}-{what}.png"))
            driver.get_log("browser"), driver.get_log("performance")
    finally:
        driver.quit()
        server.shutdown()
    print(f"\nread {len(pages)} pages in {time.perf_counter() - started:.0f} s; screenshots in {shots}")
    return {"base": base, "pages": read, "dest": dest, "screenshots": shots}


def _network(entries):
    """(every URL the page requested, the requests that failed or answered >= 400)."""
    urls, failed = [], []
    for entry in entries:
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            urls.append(params["request"]["url"])
        elif message["method"] == "Network.responseReceived" and params["response"]["status"] >= 400:
            failed.append(f"{params['response']['url']}: HTTP {params['response']['status']}")
        elif message["method"] == "Network.loadingFailed" and not params.get("canceled"):
            failed.append(f"request {params['requestId']}: {params.get('errorText')}")
    return urls, failed


def test_every_page_loads_without_console_errors(reading):
    errors = {page: [e["message"] for e in got["console"]] + got["failed"]
              for page, got in reading["pages"].items() if got["console"] or got["failed"]}
    assert not errors, json.dumps(errors, indent=1)[:3000]


def test_no_request_leaves_the_machine(reading):
    base = reading["base"]
    outside = {page: [u for u in got["requests"] if not u.startswith((base, "data:", "blob:", "about:"))]
               for page, got in reading["pages"].items()}
    outside = {page: urls for page, urls in outside.items() if urls}
    assert not outside, outside
    assert all(got["requests"] for got in reading["pages"].values()), "the network log recorded no request"


def test_every_maths_block_is_rendered(reading):
    pages = reading["pages"]
    faults = {page: {"unrendered": got["unrendered"], "errors": got["merrors"],
                     "raw TeX": RAW_MATHS.findall(got["text"])[:5]}
              for page, got in pages.items()
              if got["unrendered"] or got["merrors"] or RAW_MATHS.search(got["text"])}
    assert not faults, faults
    check = pages[f"tutorials/{CHECK_NAME}.html"]
    assert check["maths"] >= 3 and check["display"] >= 2, check["maths"]     # one inline, $$...$$, align


def test_every_figure_has_loaded(reading):
    pages = reading["pages"]
    broken = {page: [i["src"] for i in got["images"] if not (i["complete"] and i["width"] > 0)]
              for page, got in pages.items()}
    broken = {page: srcs for page, srcs in broken.items() if srcs}
    assert not broken, broken
    assert any(i["output"] for i in pages[f"tutorials/{CHECK_NAME}.html"]["images"]), \
        "the check page's inline figure (a cell output) is missing"
    figures = len(re.findall(r"!\[", (ROOT / "EXPERIMENTS.md").read_text(encoding="utf-8")))
    assert len(pages["EXPERIMENTS.html"]["images"]) == figures
    assert pages["index.html"]["images"], "the README's figures are missing from the home page"


def test_internal_links_resolve(reading):
    base, dest, pages = reading["base"], reading["dest"], reading["pages"]
    broken, checked = [], 0
    for page, got in pages.items():
        for url in set(got["links"]):
            if not url.startswith(base):
                continue
            parts = urllib.parse.urlsplit(url)
            path = urllib.parse.unquote(parts.path)[1:] or "index.html"
            if path.endswith("/"):
                path += "index.html"
            checked += 1
            if not (dest / path).is_file():
                broken.append(f"{page}: {url} (no file)")
            elif parts.fragment and path in pages and urllib.parse.unquote(parts.fragment) not in pages[path]["ids"]:
                broken.append(f"{page}: {url} (no id {parts.fragment!r})")
    assert not broken, "\n".join(broken[:30])
    assert checked > 100


def test_screenshots_are_kept(reading):
    shots = reading["screenshots"]
    for name in ("home.png", "home-figure.png", "tutorial.png", "rendering-check-maths.png",
                 "rendering-check-figure.png", "api.png"):
        path = shots / name
        assert path.is_file() and path.stat().st_size > 10_000, path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
