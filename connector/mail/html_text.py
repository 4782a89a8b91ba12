"""Readable plain text of an HTML mail body: what is stored and searched for HTML-only mail.

`inscriptis` (Apache-2.0) renders the HTML as plain text directly — no Markdown to undo — through
lxml's libxml2 parser, which reads hostile markup (unclosed tags and comments, deep nesting) in
linear time. Links stay visible as ``[text](url)``, a mail address as itself (or ``Name <address>``).
"""

from __future__ import annotations

import html as html_lib
import re
from functools import cache
from typing import Any

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TAG = re.compile(r"<[^<>]*>")
_MAILTO_LINK = re.compile(r"\[([^\[\]]*)\]\(mailto:([^()\[\]?\s]+)(?:\?[^()\[\]]*)?\)")
_SPACE_RUN = re.compile(r"(?<=\S)[ \t\xa0]{2,}")  # column padding of layout tables
_BLANK_RUN = re.compile(r"\n{3,}")


@cache
def _inscriptis() -> tuple[Any, Any]:
    """inscriptis (and lxml under it) loaded at the first HTML body, not by every command that imports mail."""
    from inscriptis import get_text
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.model.config import ParserConfig

    # "strict": no indentation of inline elements; e-mail uses tables for layout, so cells are just text.
    return get_text, ParserConfig(css=CSS_PROFILES["strict"], display_links=True)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body: no scripts or styles, links kept as ``[text](url)``."""
    get_text, config = _inscriptis()
    try:
        text = get_text(html, config)
    except Exception:  # lxml refuses some inputs outright (e.g. NUL bytes): strip the tags instead
        text = html_lib.unescape(_TAG.sub(" ", html))
    text = _MAILTO_LINK.sub(_mailto_as_text, text).replace("\xa0", " ")
    lines = [_SPACE_RUN.sub(" ", line).rstrip() for line in _LINE_BREAK.split(text)]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip()


def _mailto_as_text(match: re.Match[str]) -> str:
    label, email = match[1].strip(), match[2]
    return email if label.lower() in ("", email.lower()) else f"{label} <{email}>"
