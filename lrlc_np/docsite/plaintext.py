"""The package's plain-text docstrings as reStructuredText that shows them as they are written.

The docstrings of ``lrlc_np`` are plain text, not reStructuredText: shapes in aligned columns,
formulas in indented blocks, ``*`` for products and ``_`` in every index name. Read as
reStructuredText they would be mangled (``N*H_out*W_out`` opens an emphasis, ``sum_k`` a
link, an indented formula after a line becomes a definition list) or fail. ``to_rst`` turns a
docstring into reStructuredText that reads as its author laid it out, paragraph by paragraph:

    wrapped sentences         every line at the left margin, no two spaces inside a line, no
                              short line before the last, no shape first (``x (N, ...)``):
                              a paragraph that may reflow; every character that
                              reStructuredText would read as markup is escaped; ``code``
                              stays code (a link when ``resolve`` knows the name), and
                              *word* stays emphasis
    "- " items                a bullet list, each item a reflowing paragraph as above
    ">>>" lines               a doctest block
    anything else             a literal block, exactly as written, in a fixed-width font:
                              indented formulas, aligned columns, shape signatures, short
                              lines, and a line that an indented block continues without a
                              colon between them

Only the standard library is used; the site's Sphinx extension calls ``to_rst`` on every
docstring it renders.
"""

from __future__ import annotations

import re

# ``code``, a URL, or *emphasis* (an asterisk pair that opens after a space and closes before one)
_INLINE = re.compile(
    r"``(?P<code>[^`]+?)``"
    r"|(?P<url>https?://[^\s<>`]*[^\s<>`.,;:!?)\]'\"])"
    r"|(?<![\w*\\])\*(?P<em>[^\s*](?:[^*\n]*[^\s*])?)\*(?![\w*])"
)
_MARKUP = re.compile(r"([\\*_`|\[\]<>:])")          # escaped in running text
_ALIGNED = re.compile(r"\S {2,}\S")                  # two spaces inside a line: columns
_SHAPE_FIRST = re.compile(r"^[A-Za-z_]\w*(?:, [A-Za-z_]\w*)* \(")   # "x (N, C, H, W) ..."
_LIST_LIKE = re.compile(r"^(?:[-+*•] |->|=>|>>>|\.\. |\d+[.)] |\(\w\) |[#|])")
_ENUMERATOR = re.compile(r"^(\(?(?:\d+|[A-Za-z]|[ivxlcdmIVXLCDM]+|#))([.)])(\s)")
_IDENTIFIER = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\.py|\(\))?$")
SHORT_LINE = 50                                      # a line before a paragraph's last that is
                                                     # shorter than this was broken on purpose


def to_rst(docstring, resolve=None) -> list[str]:
    """The reStructuredText lines that show ``docstring`` (a string or a list of lines).

    resolve  optional function (dotted name) -> target for a ``:py:obj:`` link, or None;
             called with the name inside each ``code`` span that is a plain dotted name
    """
    lines = docstring.splitlines() if isinstance(docstring, str) else list(docstring)
    lines = [line.expandtabs().rstrip() for line in lines]
    out: list[str] = []
    literal: list[str] = []            # consecutive literal runs, merged with the blank lines between

    def flush_literal():
        while literal and not literal[-1]:
            literal.pop()
        if literal:
            out.extend(["::", ""] + ["    " + line if line else "" for line in literal] + [""])
            literal.clear()

    for paragraph, blank_before in _paragraphs(lines):
        for kind, run in _runs(paragraph):
            if kind == "literal":
                if literal and blank_before:
                    literal.append("")
                literal.extend(run)
            else:
                flush_literal()
                out.extend(_render(kind, run, resolve) + [""])
            blank_before = False
    flush_literal()
    while out and not out[-1]:
        out.pop()
    return out


def _paragraphs(lines):
    """(lines of one paragraph, True) for each run of non-blank lines."""
    paragraph = []
    for line in lines + [""]:
        if line:
            paragraph.append(line)
        elif paragraph:
            yield paragraph, True
            paragraph = []


def _indent(line) -> int:
    return len(line) - len(line.lstrip())


def _runs(paragraph):
    """Split a paragraph into (kind, lines) runs: "literal", "prose", "bullets" or "doctest".

    A run of lines at the margin followed by indented lines is one literal run (an aligned
    table or a hanging indent), unless its last line ends with a colon, which introduces the
    indented block as in reStructuredText.
    """
    if paragraph[0].startswith(">>>"):
        return [("doctest", paragraph)]
    if _bullet_items(paragraph):
        return [("bullets", paragraph)]
    runs, margin = [], []
    i = 0
    while i < len(paragraph):
        if _indent(paragraph[i]) == 0:
            margin.append(paragraph[i])
            i += 1
            continue
        block = []
        while i < len(paragraph) and _indent(paragraph[i]) > 0:
            block.append(paragraph[i])
            i += 1
        if margin and not margin[-1].endswith(":"):         # a hanging indent: one literal run
            start = _classify(margin)
            runs.extend(start[:-1] + [("literal", start[-1][1] + block)])
        else:
            runs.extend(_classify(margin) if margin else [])
            runs.append(("literal", block))
        margin = []
    if margin:
        runs.extend(_classify(margin))
    return runs


def _classify(lines):
    """[("prose", lines)], [("literal", lines)], or a prose start and a literal rest."""
    if _is_prose(lines):
        return [("prose", lines)]
    first = next((n for n, line in enumerate(lines) if _tabular(line)), 0)
    if first and _is_prose(lines[:first]):
        return [("prose", lines[:first]), ("literal", lines[first:])]
    return [("literal", lines)]


def _tabular(line) -> bool:
    """A line that starts a table or a signature: aligned columns, a shape first, an arrow."""
    return bool(_ALIGNED.search(line) or _SHAPE_FIRST.match(line) or _LIST_LIKE.match(line))


def _is_prose(lines) -> bool:
    if _SHAPE_FIRST.match(lines[0]):
        return False
    for n, line in enumerate(lines):
        if _indent(line) or _ALIGNED.search(line.strip()) or _LIST_LIKE.match(line):
            return False
        if n < len(lines) - 1 and len(line) < SHORT_LINE:
            return False
    return True


def _bullet_items(lines):
    """The items of a "- " list (each a list of lines, the marker removed), or None."""
    if not lines[0].startswith("- "):
        return None
    items = []
    for line in lines:
        if line.startswith("- "):
            items.append([line[2:]])
        elif _indent(line) == 2 and not _LIST_LIKE.match(line.strip()):
            items[-1].append(line[2:])
        else:
            return None
    if any(not _is_prose_text(item) for item in items):
        return None
    return items


def _is_prose_text(lines) -> bool:
    return not any(_ALIGNED.search(line.strip()) or _indent(line) for line in lines)


def _render(kind, lines, resolve):
    if kind == "doctest":
        return list(lines)
    if kind == "bullets":
        out = []
        for item in _bullet_items(lines):
            text = _inline("\n".join(item), resolve).split("\n")
            out.append("- " + text[0])
            out.extend("  " + line for line in text[1:])
        return out
    text = "\n".join(lines)
    if text.endswith("::"):                          # "as follows::" shows one colon, as in reStructuredText
        text = text[:-1]
    return _inline(text, resolve).split("\n")


def _inline(text, resolve) -> str:
    """Running text with its markup escaped; ``code``, URLs and *emphasis* kept."""
    parts, at = [], 0
    for match in _INLINE.finditer(text):
        parts.append(_escape(text[at:match.start()]))
        if match.group("code") is not None:
            parts.append(_code(match.group("code"), resolve))
        elif match.group("url") is not None:
            parts.append(match.group("url"))
        else:
            parts.append("\\ *" + _escape(match.group("em")) + "*\\ ")
        at = match.end()
    parts.append(_escape(text[at:]))
    out = "".join(parts)
    first = _ENUMERATOR.match(out)                   # "1. ", "(a) " would open a list
    if first:
        out = first.group(1) + "\\" + first.group(2) + first.group(3) + out[first.end():]
    elif out and not out[0].isalnum() and out[0] not in "\\`(\"'":
        out = "\\" + out                             # "-", "+", "..", "=" would open a construct
    return out


def _escape(text) -> str:
    return _MARKUP.sub(r"\\\1", text)


def _code(code, resolve) -> str:
    if code != code.strip():                         # reStructuredText cannot start or end a literal with a space
        return _escape("``" + code + "``")
    name = _IDENTIFIER.match(code)
    target = resolve(name.group(1)) if (resolve and name) else None
    if target:
        return f"\\ :py:obj:`{code} <{target}>`\\ "
    return f"\\ ``{code}``\\ "
