"""The subset of Gmail's search language (`q`) an adapter needs, evaluated against stored messages.

Supported: after:/before: (YYYY/MM/DD — midnight *Pacific* time, as Gmail documents — or epoch
seconds), newer_than:/older_than: (Nh, Nd, Nm, Ny), rfc822msgid:, in:sent|inbox|trash|spam|
anywhere, label:, is:unread|read|starred, from:, to:, cc:, bcc:, deliveredto:, subject:,
has:attachment, a leading "-" to negate, and bare words (substring of headers and text).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from . import mime
from .state import Mailbox, StoredMessage
from .wire import invalid

try:
    from zoneinfo import ZoneInfo

    PACIFIC: timezone | ZoneInfo = ZoneInfo("America/Los_Angeles")
except Exception:  # no tz database on the machine: fall back to PST
    PACIFIC = timezone(timedelta(hours=-8))

_TOKEN = re.compile(r'-?[\w.]+:"[^"]*"|-?[\w.]+:\S+|-?"[^"]*"|\S+')
_UNITS = {"h": 3600, "d": 86400, "m": 30 * 86400, "y": 365 * 86400}

Predicate = Callable[[StoredMessage], bool]


def _date_ms(value: str) -> int:
    if value.isdigit():
        return int(value) * 1000
    for fmt in ("%Y/%m/%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            day = datetime.strptime(value, fmt).replace(tzinfo=PACIFIC)
        except ValueError:
            continue
        return int(day.timestamp() * 1000)
    raise invalid(f"Invalid date in query: {value}")


def _age_ms(value: str) -> int:
    match = re.fullmatch(r"(\d+)([hdmy])", value.lower())
    if not match:
        raise invalid(f"Invalid relative date in query: {value}")
    return int(match.group(1)) * _UNITS[match.group(2)] * 1000


def _header_has(msg: StoredMessage, names: tuple[str, ...], needle: str) -> bool:
    needle = needle.lower()
    return any(
        needle in mime.header_value(v).lower() for n in names for v in msg.parsed.get_all(n, [])
    )


def _has_attachment(msg: StoredMessage) -> bool:
    return any(part.get_filename() for part in msg.parsed.walk() if not part.is_multipart())


def _term(mailbox: Mailbox, key: str, value: str, now_ms: int) -> Predicate:
    value = value.strip('"')
    if key == "after":
        bound = _date_ms(value)
        return lambda m: m.internal_date_ms >= bound
    if key == "before":
        bound = _date_ms(value)
        return lambda m: m.internal_date_ms < bound
    if key == "newer_than":
        bound = now_ms - _age_ms(value)
        return lambda m: m.internal_date_ms >= bound
    if key == "older_than":
        bound = now_ms - _age_ms(value)
        return lambda m: m.internal_date_ms < bound
    if key == "rfc822msgid":
        wanted = value if value.startswith("<") else f"<{value}>"
        return lambda m: m.rfc822_id == wanted
    if key == "in":
        if value.lower() == "anywhere":
            return lambda m: True
        label = value.upper()
        return lambda m: label in m.label_ids
    if key == "label":
        ids = {lid for lid, meta in mailbox.user_labels.items() if meta["name"].lower() == value.lower()}
        ids.add(value.upper() if value.upper() in ("INBOX", "SENT", "UNREAD", "STARRED") else value)
        return lambda m: bool(ids.intersection(m.label_ids))
    if key == "is":
        flag = value.lower()
        if flag == "read":
            return lambda m: "UNREAD" not in m.label_ids
        return lambda m: flag.upper() in m.label_ids
    if key == "has" and value.lower() == "attachment":
        return _has_attachment
    headers = {
        "from": ("From",),
        "to": ("To",),
        "cc": ("Cc",),
        "bcc": ("Bcc",),
        "subject": ("Subject",),
        "deliveredto": ("Delivered-To", "To", "Cc"),
    }
    if key in headers:
        return lambda m: _header_has(m, headers[key], value)
    raise invalid(f"Unsupported search operator: {key}:")


def _word(value: str) -> Predicate:
    needle = value.strip('"').lower()

    def matches(m: StoredMessage) -> bool:
        haystack = " ".join(mime.header_value(v) for _, v in m.parsed.items()) + mime.plain_text(m.parsed)
        return needle in haystack.lower()

    return matches


def compile_query(mailbox: Mailbox, q: str, now_ms: int) -> tuple[Predicate, bool]:
    """Return the predicate and whether the query itself reaches into SPAM/TRASH."""
    predicates: list[Predicate] = []
    spam_trash = False
    for token in _TOKEN.findall(q or ""):
        negate = token.startswith("-") and len(token) > 1
        body = token[1:] if negate else token
        key, sep, value = body.partition(":")
        if sep and not body.startswith('"') and value:
            key = key.lower()
            if key == "in" and value.lower() in ("anywhere", "trash", "spam"):
                spam_trash = True
            predicate = _term(mailbox, key, value, now_ms)
        else:
            predicate = _word(body)
        predicates.append((lambda p: lambda m: not p(m))(predicate) if negate else predicate)
    return (lambda m: all(p(m) for p in predicates)), spam_trash
