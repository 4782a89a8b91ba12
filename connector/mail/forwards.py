"""Forwarded originals written *inline* in a message body.

Mail clients forward a message by pasting a small header block above the original text:

Gmail::

    ---------- Forwarded message ---------
    From: Peter Gibbons <peter@initech.com>
    Date: Mon, Mar 2, 2026 at 9:14 AM
    Subject: TPS report cover sheets
    To: Alice Archer <alice@acme-law.com>

Outlook (plain text, or the text derived from its HTML; the separator line is optional, Word's
HTML draws it as a CSS border)::

    ________________________________          (or -----Original Message-----)
    From: Peter Gibbons <peter@initech.com>   (or <mailto:…>, or [mailto:…])
    Sent: Monday, March 2, 2026 9:14 AM
    To: Alice Archer <alice@acme-law.com>; Bob Baker <bob@acme-law.com>
    Subject: TPS report cover sheets

`find_inline_forwards` turns every such block into a `ForwardedOriginal`. A block needs either a
separator line followed by a ``From:`` field, or (without separator) ``From:`` plus ``Sent:``/``Date:``
plus ``To:``/``Subject:``, so Outlook's quoted reply headers count too (replying with the Bcc is
the other way to log a received mail). Only English field names are recognised. Quote prefixes
(``> ``) are ignored. The block's text runs to the next block or the end.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from connector.mail.envelope import Address, ForwardedOriginal

_QUOTE_PREFIX = re.compile(r"^(?:[ \t]*>)+[ \t]?")
_SEPARATOR = re.compile(
    r"^(?:-{2,}\s*forwarded message\s*-{2,}"  # Gmail
    r"|begin forwarded message:"  # Apple Mail
    r"|-{2,}\s*original message\s*-{2,}"  # Outlook plain text
    r"|_{10,}"  # Outlook / Outlook on the web
    r"|(?:\*\s*){3})$",  # an <hr> as plain-text converters write it
    re.IGNORECASE,
)
_FIELD = re.compile(
    r"^[*_]{0,2}(from|sent|date|to|cc|bcc|subject|reply-to|importance|attachments)[*_]{0,2}"
    r"\s*:[*_]{0,2}\s*(.*)$",
    re.IGNORECASE,
)
_ALIASES = {"sent": "date"}
_RECIPIENT_FIELDS = frozenset({"to", "cc", "bcc"})
_ADDRESS = re.compile(
    r"[<\[]\s*(?:mailto:)?(?P<bracketed>[^<>\[\]\s@]+@[^<>\[\]\s@]+?)\s*[>\]]"
    r"|(?<![\w.!#$%&'*+/=?^`{|}~-])(?P<bare>[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)*)"
)
_TZ_SUFFIX = re.compile(r"\s*\(?(?:GMT|UTC)(?:\s*([+-])(\d{1,2})(?::?(\d{2}))?)?\)?$", re.IGNORECASE)
_AM_PM = re.compile(r"\b[ap]\.?m\.?(?:\s|$)", re.IGNORECASE)
_DATE_FORMATS = (
    "%a %b %d %Y %I:%M %p",  # Gmail: Mon, Mar 2, 2026 at 9:14 AM
    "%A %B %d %Y %I:%M %p",  # Outlook (US): Monday, March 2, 2026 9:14 AM
    "%A %B %d %Y %I:%M:%S %p",
    "%a %b %d %Y %I:%M:%S %p",
    "%A %d %B %Y %H:%M",  # Outlook (UK): Monday, 2 March 2026 09:14
    "%A %d %B %Y %H:%M:%S",
    "%a %d %b %Y %H:%M",
    "%B %d %Y %I:%M:%S %p",  # Apple Mail: March 2, 2026 at 9:14:02 AM GMT+1
    "%B %d %Y %I:%M %p",
    "%d %B %Y %H:%M:%S",  # Apple Mail (24 h): 2 March 2026 at 09:14:02 GMT+1
    "%d %B %Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d.%m.%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
)


def find_inline_forwards(text: str) -> tuple[ForwardedOriginal, ...]:
    """Every inline forwarded/quoted header block in ``text``, in order of appearance."""
    lines = [_QUOTE_PREFIX.sub("", line).strip() for line in text.splitlines()]
    blocks: list[tuple[int, int, dict[str, str]]] = []  # (first line, first body line, fields)
    i = 0
    while i < len(lines):
        block = _block_at(lines, i)
        if block is None:
            i += 1
            continue
        end, fields = block
        blocks.append((i, end, fields))
        i = end
    found = []
    for n, (_, body_start, fields) in enumerate(blocks):
        body_end = blocks[n + 1][0] if n + 1 < len(blocks) else len(lines)
        found.append(_original(fields, "\n".join(lines[body_start:body_end]).strip()))
    return tuple(found)


def _block_at(lines: list[str], i: int) -> tuple[int, dict[str, str]] | None:
    """(index after the header block, fields) if a forwarded header block starts at line ``i``."""
    if _SEPARATOR.match(lines[i]):
        start = i + 1
        while start < len(lines) and start <= i + 3 and not lines[start]:
            start += 1
        fields, end = _read_fields(lines, start)
        return (end, fields) if "from" in fields else None
    match = _FIELD.match(lines[i])
    if match is None or match[1].lower() != "from":
        return None
    fields, end = _read_fields(lines, i)
    if "date" in fields and ("to" in fields or "subject" in fields):
        return end, fields
    return None


def _read_fields(lines: list[str], start: int) -> tuple[dict[str, str], int]:
    fields: dict[str, str] = {}
    last = ""
    i = start
    while i < len(lines):
        line = lines[i]
        match = _FIELD.match(line)
        if match:
            key = _ALIASES.get(match[1].lower(), match[1].lower())
            if key in fields:
                break  # a second From: starts the next block
            fields[key] = match[2].strip()
            last = key
        elif line and last in _RECIPIENT_FIELDS and fields[last].endswith((",", ";")):
            fields[last] += " " + line  # a long To:/Cc: wrapped onto the next line
        else:
            break
        i += 1
    return fields, i


def _original(fields: dict[str, str], text: str) -> ForwardedOriginal:
    senders = parse_addresses(fields.get("from", ""))
    return ForwardedOriginal(
        from_=senders[0] if senders else None,
        to=parse_addresses(fields.get("to", "")),
        cc=parse_addresses(fields.get("cc", "")),
        subject=fields.get("subject", ""),
        sent_at=parse_date(fields.get("date", "")),
        text=text,
    )


def parse_addresses(value: str) -> tuple[Address, ...]:
    """Addresses from a human-written recipient list.

    Understands ``Name <a@b>``, ``Name <mailto:a@b>``, ``Name [mailto:a@b]``, bare ``a@b``, and lists
    separated by ``,`` or ``;`` (Outlook; its names may contain commas: ``Baker, Bob <bob@…>``).
    Entries without an e-mail address (Outlook shows colleagues by name only) are skipped.
    """
    found: dict[str, Address] = {}
    previous_end = 0
    for match in _ADDRESS.finditer(value):
        email = (match["bracketed"] or match["bare"]).strip().lower()
        name = ""
        if match["bracketed"]:  # the name is what precedes it, after the last ";" (name-only entries)
            name = value[previous_end : match.start()].rsplit(";", 1)[-1]
            name = name.strip(" \t,;").strip("\"'*").strip()
        previous_end = match.end()
        if email not in found:
            found[email] = Address(email=email, name="" if name.lower() == email else name)
    return tuple(found.values())


def parse_date(value: str) -> datetime | None:
    """Best-effort date of a forwarded header block, as an aware UTC datetime (None if unknown).

    Without a zone in the text (Gmail and Outlook write the forwarder's wall clock) it is taken
    as UTC.
    """
    text = " ".join(value.replace("\u202f", " ").replace("\xa0", " ").split())
    if not text:
        return None
    zone: timezone = UTC
    suffix = _TZ_SUFFIX.search(text)
    if suffix and suffix.start() > 0:
        zone = _zone(suffix[1], suffix[2], suffix[3])
        text = text[: suffix.start()]
    simple = " ".join(re.sub(r"\bat\b", " ", text.replace(",", " ")).split())
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(simple, fmt).replace(tzinfo=zone).astimezone(UTC)
        except (ValueError, OverflowError):
            continue
    if _AM_PM.search(text):
        return None  # parsedate_to_datetime would silently ignore AM/PM
    try:
        parsed = parsedate_to_datetime(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except Exception:  # the stdlib's date parser has more failure modes than it documents
        return None


def _zone(sign: str | None, hours: str | None, minutes: str | None) -> timezone:
    """``GMT+1``-style suffix → its zone; UTC when absent or out of range."""
    if not sign or hours is None or int(hours) > 14:
        return UTC
    offset = timedelta(hours=int(hours), minutes=min(int(minutes or 0), 59))
    return timezone(-offset if sign == "-" else offset)
