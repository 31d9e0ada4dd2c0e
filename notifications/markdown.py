"""Text from feeds and staff records, made inert inside Markdown (Prefect artifacts).

Prefect's UI renders artifact Markdown, raw HTML included. A staff name such as
`![x](http://evil/x.png)` or `<img src=...>` or `[click](javascript:...)` must show as those
characters, not fetch an image or render a link. So: HTML's special characters become entities,
the characters that start inline Markdown (links, images, emphasis, code, table cells) get a
backslash (CommonMark shows it literally), a leading block marker (`#`, `-`, `1.`) too, and line
breaks become spaces (one table cell, one line). Plain names stay as they are.
"""

from __future__ import annotations

import re

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_INLINE = "\\`*_[]|!~"
_TABLE = str.maketrans({**{ch: "\\" + ch for ch in _INLINE}, **_HTML})
_BLOCK_START = "#-+="
_ORDERED = re.compile(r"^(\d+)([.)])")


def md_text(text: object) -> str:
    """`text` as literal Markdown (safe in a paragraph, a list item or a table cell)."""
    spaced = "".join(ch if ch.isprintable() else " " for ch in str(text)).strip()
    escaped = spaced.translate(_TABLE)
    if escaped[:1] and escaped[0] in _BLOCK_START:
        return "\\" + escaped
    return _ORDERED.sub(r"\1\\\2", escaped)
