"""Readable plain text of an HTML mail body: what is stored and searched for HTML-only mail.

Hostile markup is expected: scripts and styles are dropped, comments and unclosed tags defused
before any parser sees them, and list/quote nesting capped, so no message can make this slow.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable

import html2text

_MAX_NESTING = 12  # nesting of HTML lists and quotes we indent
_NESTING_TAGS = frozenset({"ul", "ol", "dl", "blockquote"})
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_INVISIBLE_HTML = re.compile(r"<(script|style)\b[^<>]*>.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL)
_CELL_END = re.compile(r"</t[dh]\s*>", re.IGNORECASE)
_UNCLOSED_TAG = re.compile(r"<(?=[^<>]*(?:<|\Z))")
_TAG = re.compile(r"<[^<>]*>")
_MAILTO_LINK = re.compile(r"\[([^\[\]]*)\]\(mailto:([^()\[\]?\s]+)(?:\?[^()\[\]]*)?\)")
_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")
_HEADING_MARK = re.compile(r"^#{1,6} +", re.MULTILINE)
_BLANK_RUN = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body: no scripts or styles, links kept as ``[text](url)``."""
    visible = _CELL_END.sub(r"\g<0> ", _defuse(_INVISIBLE_HTML.sub(" ", html)))  # keep table cells apart
    converter = html2text.HTML2Text()
    converter.body_width = 0  # never re-wrap: forwarded header lines must stay whole
    converter.ignore_emphasis = True
    converter.ignore_tables = True  # e-mail uses tables for layout, not data
    converter.images_to_alt = True
    converter.unicode_snob = True
    converter.tag_callback = _nesting_limit()
    try:
        text = converter.handle(visible)
    except Exception:  # html2text on pathological markup: fall back to stripping tags
        text = html_lib.unescape(_TAG.sub(" ", visible))
    text = _MAILTO_LINK.sub(_mailto_as_text, text)
    text = _HEADING_MARK.sub("", _MARKDOWN_ESCAPE.sub(r"\1", text)).replace("\xa0", " ")
    lines = [line.rstrip() for line in _LINE_BREAK.split(text)]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip()


def _nesting_limit() -> Callable[[html2text.HTML2Text, str, dict[str, str | None], bool], bool]:
    """An html2text tag callback ignoring lists/quotes nested deeper than any real mail does.

    html2text indents every line by its depth, so 20 000 nested ``<ul>`` would make
    gigabytes of spaces; past the limit, deeper levels are simply not indented further.
    """
    depth = 0

    def skip(_: html2text.HTML2Text, tag: str, __: dict[str, str | None], start: bool) -> bool:
        nonlocal depth
        if tag not in _NESTING_TAGS:
            return False
        if start:
            depth += 1
            return depth > _MAX_NESTING
        depth = max(depth - 1, 0)
        return depth >= _MAX_NESTING  # the end of a start tag that was skipped

    return skip


def _defuse(html: str) -> str:
    """Drop comments and escape every ``<`` that opens no complete tag.

    Comments are invisible anyway; an unclosed one hides the rest, as in a browser. The
    ``html.parser`` of our Python (3.11.7; see CVE-2025-6069) takes quadratic time on unclosed
    tags and comments (``<a href='`` repeated: 180 kB, 50 s); after this it sees only whole tags.
    """
    kept, at = [], 0
    while (start := html.find("<!--", at)) != -1:
        kept.append(html[at:start])
        end = html.find("-->", start + 4)
        at = len(html) if end == -1 else end + 3
    kept.append(html[at:])
    return _UNCLOSED_TAG.sub("&lt;", "".join(kept))


def _mailto_as_text(match: re.Match[str]) -> str:
    label, email = match[1].strip(), match[2]
    return email if label.lower() in ("", email.lower()) else f"{label} <{email}>"
