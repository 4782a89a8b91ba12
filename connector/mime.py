"""RFC 5322 bytes → the provider-neutral `Envelope`.

`parse` reads any message the SMTP dropbox, an .eml file or a provider's raw download hands us.
It is written for hostile input: the standard library's ``email`` package (``policy.default``)
raises surprising exceptions on garbage headers, so every header is read on its own and falls
back to its raw text; bodies in unknown charsets are decoded as UTF-8, else Windows-1252, with
replacement characters. HTML-only mail is stored as `connector.mail.html_text.html_to_text`.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import TypeVar

from connector.envelope import (
    Address,
    Attachment,
    Direction,
    Envelope,
    ForwardedOriginal,
    Source,
    normalize_message_id,
)
from connector.errors import MimeError
from connector.forwards import find_inline_forwards
from connector.mail.html_text import html_to_text

T = TypeVar("T")

_MAX_DEPTH = 20  # nesting of multiparts / attached messages we follow
_MAX_PARSED_HEADER = 16_384  # longer header values are read from their raw text only
_BODY_TYPES = frozenset({"text/plain", "text/html"})
_RECIPIENT_HEADERS = ("To", "Cc", "Bcc", "Delivered-To", "X-Original-To")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ID_TOKEN = re.compile(r"<\s*([^<>\s]+)\s*>")
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+$")
_ENCODED_WORDS = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=(?:\s+=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)*")
_SYNTHETIC_DOMAIN = "bcc-capture.invalid"
_MIME_TYPES = mimetypes.MimeTypes()  # built-in table only: the same names on every machine


def parse(
    raw: bytes,
    *,
    source: Source = Source.SMTP,
    mailbox: str = "",
    provider_message_id: str = "",
    thread_key: str = "",
    direction: Direction | None = None,
) -> Envelope:
    """Parse an RFC 5322 message into a complete `Envelope`.

    Raises `MimeError` (and nothing else) when the bytes are not a usable message:

    * ``raw`` is not bytes, or is empty / only white space;
    * there is no header section (the first line is not a ``Name: value`` header);
    * the headers have no parseable From, no recipient (To, Cc, Bcc, Delivered-To, X-Original-To),
      no Message-ID and no Subject, i.e. nothing that makes it an e-mail;
    * the ``email`` package fails in a way the per-header fallbacks did not absorb.

    Everything else is tolerated: a header that cannot be parsed keeps its raw text (addresses
    that do not parse are skipped), an unparseable Date gives ``sent_at=None``, a body in an
    unknown charset is decoded as UTF-8 or else Windows-1252. Without a usable Message-ID, a
    stable one is made from the bytes: ``<sha256hex@bcc-capture.invalid>``. Inline forwarded
    (and Outlook-quoted) header blocks in the text become `ForwardedOriginal`s, after those of
    attached ``message/rfc822`` parts. Same bytes, same envelope.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MimeError(f"expected the message as bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        raise MimeError("empty message")
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        headers = _read_headers(msg)
        if not headers:
            raise MimeError("no header section: the message does not start with 'Name: value' headers")
        from_ = _first(_addresses(headers, "From"))
        recipients = {name: _addresses(headers, name) for name in _RECIPIENT_HEADERS}
        subject = _value(headers, "Subject")
        message_id = _raw(headers, "Message-ID")
        if from_ is None and not any(recipients.values()) and not subject and not message_id:
            raise MimeError("not an e-mail: no From, no recipients, no Message-ID and no Subject")
        content = _Content()
        content.collect(msg, depth=0)
        return _envelope(raw, headers, content, source=source, mailbox=mailbox,
                         provider_message_id=provider_message_id, thread_key=thread_key, direction=direction)
    except MimeError:
        raise
    except Exception as exc:  # last resort: the email package has many undocumented failure modes
        raise MimeError(f"unreadable message ({type(exc).__name__}: {exc})") from exc


def _envelope(raw: bytes, headers: list[tuple[str, str, str]], content: _Content, *, source: Source, mailbox: str,
              provider_message_id: str, thread_key: str, direction: Direction | None) -> Envelope:
    recipients = {name: _addresses(headers, name) for name in _RECIPIENT_HEADERS}
    text = content.text()
    return Envelope(
        source=source,
        internet_message_id=_message_id(_raw(headers, "Message-ID")) or _synthetic_id(raw),
        subject=_value(headers, "Subject"),
        mailbox=mailbox,
        provider_message_id=provider_message_id,
        thread_key=thread_key,
        in_reply_to=_message_ids(_raw(headers, "In-Reply-To"), bare_ok=True),
        references=_message_ids(" ".join(_raw_all(headers, "References"))),
        from_=_first(_addresses(headers, "From")),
        sender=_first(_addresses(headers, "Sender")),
        reply_to=_addresses(headers, "Reply-To"),
        to=recipients["To"],
        cc=recipients["Cc"],
        bcc=recipients["Bcc"],
        delivered_to=_unique(recipients["Delivered-To"] + recipients["X-Original-To"]),
        sent_at=_date(_raw(headers, "Date")),
        text=text,
        html=content.html_text(),
        attachments=tuple(content.attachments),
        direction=direction,
        headers=tuple((name, decoded) for name, decoded, _ in headers),
        forwarded=(*content.forwarded, *_inline_forwards(text)),
        complete=True,
    )


# --- headers -------------------------------------------------------------------------------------


def _safe(read: Callable[[], T], default: T) -> T:
    try:
        return read()
    except Exception:
        return default


def _read_headers(msg: Message) -> list[tuple[str, str, str]]:
    """(name, decoded value, raw unfolded value) of every header, in order."""
    headers = []
    for name, value in msg.raw_items():
        raw = _repair("".join(_LINE_BREAK.split(str(value)))).strip()
        decoded = None
        # Undeclared 8-bit bytes: the policy would make them U+FFFD. Huge values: its parser is
        # quadratic on some (a 140 kB To: takes seconds); the raw text is as good for those.
        if len(str(value)) <= _MAX_PARSED_HEADER and not _has_escaped_bytes(str(value)):
            decoded = _safe(lambda n=name, v=value: str(msg.policy.header_fetch_parse(n, v)), None)
        headers.append((name, _clean(decoded).strip() if decoded is not None else _decode_words(raw), raw))
    return headers


def _raw(headers: list[tuple[str, str, str]], name: str) -> str:
    """The first such header's raw text ("" if absent)."""
    return next(iter(_raw_all(headers, name)), "")


def _raw_all(headers: list[tuple[str, str, str]], name: str) -> list[str]:
    wanted = name.lower()
    return [raw for key, _, raw in headers if key.lower() == wanted]


def _value(headers: list[tuple[str, str, str]], name: str) -> str:
    wanted = name.lower()
    return next((decoded for key, decoded, _ in headers if key.lower() == wanted), "")


def _has_escaped_bytes(text: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in text)


def _repair(text: str) -> str:
    """Undo the parser's surrogate escapes of undeclared 8-bit header bytes (UTF-8, else cp1252)."""
    if not _has_escaped_bytes(text):
        return _clean(text)
    return _decode_bytes(text.encode("utf-8", "surrogateescape"), None)


def _clean(text: str) -> str:
    return text.replace("\x00", "")


def _decode_words(text: str) -> str:
    """RFC 2047 encoded words → text; a run of words that cannot be decoded stays as it is."""
    return _ENCODED_WORDS.sub(_decode_word_run, text) if "=?" in text else text


def _decode_word_run(run: re.Match[str]) -> str:
    return _clean(_safe(lambda: str(make_header(decode_header(run[0]))), run[0]))


def _addresses(headers: list[tuple[str, str, str]], name: str) -> tuple[Address, ...]:
    values = _raw_all(headers, name)
    found = []
    for display, email in _safe(lambda: getaddresses(values), []):
        email = email.strip()
        if not _EMAIL.match(email) and " " in email:  # "Alice Archer alice@acme-law.com"
            display, _, email = email.rpartition(" ")
        if _EMAIL.match(email):
            name = _decode_words(display).strip().strip("\"'").strip()
            found.append(Address(email=email, name="" if name.lower() == email.lower() else name))
    return _unique(tuple(found))


def _unique(addresses: tuple[Address, ...]) -> tuple[Address, ...]:
    first_seen: dict[str, Address] = {}
    for address in addresses:
        first_seen.setdefault(address.email, address)
    return tuple(first_seen.values())


def _first(addresses: tuple[Address, ...]) -> Address | None:
    return addresses[0] if addresses else None


def _message_ids(value: str, *, bare_ok: bool = False) -> tuple[str, ...]:
    ids = [normalize_message_id(token) for token in _ID_TOKEN.findall(value)]
    if not ids and bare_ok and value.strip() and not any(c.isspace() or c in "<>" for c in value.strip()):
        ids = [normalize_message_id(value)]
    return tuple(dict.fromkeys(ids))


def _message_id(value: str) -> str:
    return next(iter(_message_ids(value, bare_ok=True)), "")


def _synthetic_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()}@{_SYNTHETIC_DOMAIN}>"


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except Exception:
        return None


# --- bodies and attachments ----------------------------------------------------------------------


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Text in the declared charset; undeclared, unknown or wrong charsets never raise."""
    label = (charset or "").strip().lower()
    if label in ("iso-8859-1", "iso_8859-1", "latin-1", "latin1", "l1"):
        label = "windows-1252"  # what senders mean by it (as every browser assumes)
    if label and label not in ("us-ascii", "ascii"):
        try:
            return _clean(data.decode(label, "replace"))
        except Exception:  # unknown label, or a codec that is not a text encoding
            pass
    try:
        return _clean(data.decode("utf-8"))
    except UnicodeDecodeError:
        return _clean(data.decode("windows-1252", "replace"))


def _content_type(part: Message) -> str:
    return _safe(part.get_content_type, "text/plain").lower()


def _payload_bytes(part: Message) -> bytes:
    payload = part.get_payload()
    if isinstance(payload, list):  # message/*: the attached message itself, as it was sent
        return b"".join(_safe(lambda m=m: m.as_bytes(policy=policy.compat32), b"") for m in payload)
    decoded = _safe(lambda: part.get_payload(decode=True), None)
    if isinstance(decoded, bytes):
        return decoded
    return str(payload or "").encode("utf-8", "surrogateescape")


def _body_text(part: Message) -> str:
    text = _decode_bytes(_payload_bytes(part), _safe(part.get_content_charset, None))
    return "\n".join(_LINE_BREAK.split(text))


@dataclass
class _Content:
    """Bodies, attachments and attached forwarded messages found walking the MIME tree."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: list[ForwardedOriginal] = field(default_factory=list)

    def text(self) -> str:
        plain = "\n\n".join(self.plain).strip()
        if plain or not self.html:  # some senders put an empty text/plain next to the real HTML
            return plain
        return html_to_text("\n".join(self.html))

    def html_text(self) -> str | None:
        return "\n".join(self.html) if self.html else None

    def collect(self, part: Message, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        ctype = _content_type(part)
        if ctype in ("message/rfc822", "message/global"):
            self.attachments.append(self._attachment(part, ctype))
            self.forwarded.extend(_attached_originals(part, depth + 1))
        elif part.is_multipart():
            for child in part.get_payload():
                if isinstance(child, Message):
                    self.collect(child, depth + 1)
        else:
            if ctype.startswith("multipart/"):  # declared multipart without a boundary
                ctype = "text/plain"
            disposition = _safe(part.get_content_disposition, None)
            if ctype in _BODY_TYPES and disposition != "attachment" and not _filename(part):
                (self.plain if ctype == "text/plain" else self.html).append(_body_text(part))
            else:
                self.attachments.append(self._attachment(part, ctype))

    def _attachment(self, part: Message, ctype: str) -> Attachment:
        content = _payload_bytes(part)
        disposition = _safe(part.get_content_disposition, None)
        extension = _MIME_TYPES.guess_extension(ctype) or ".bin"
        name = (
            _filename(part)
            or _attached_subject(part, extension)
            or (f"attachment-{len(self.attachments) + 1}{extension}")
        )
        has_content_id = bool(_safe(lambda: str(part.get("Content-ID", "")).strip(), ""))
        return Attachment(
            name=name,
            content_type=ctype,
            size=len(content),
            content=content,
            is_inline=has_content_id and disposition != "attachment",
        )


def _filename(part: Message) -> str:
    """The part's file name, without any directory a hostile sender put in it."""
    name = _clean(_safe(part.get_filename, None) or "")
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip()


def _attached_subject(part: Message, extension: str) -> str:
    """``<subject>.eml`` for an attached message without a file name."""
    payload = part.get_payload()
    if not isinstance(payload, list) or not payload or not isinstance(payload[0], Message):
        return ""
    subject = _value(_read_headers(payload[0]), "Subject")
    subject = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", subject).strip(" .")
    return f"{subject[:120]}{extension}" if subject else ""


def _attached_originals(part: Message, depth: int) -> list[ForwardedOriginal]:
    """The forwarded original of a message/rfc822 part, then any forwards nested inside it."""
    payload = part.get_payload()
    if isinstance(payload, list):
        inner = payload[0] if payload and isinstance(payload[0], Message) else None
    else:  # encoded (e.g. base64) message/rfc822: parse the decoded bytes
        inner = BytesParser(policy=policy.default).parsebytes(_payload_bytes(part))
    if inner is None or depth > _MAX_DEPTH:
        return []
    headers = _read_headers(inner)
    content = _Content()
    content.collect(inner, depth)
    text = content.text()
    original = ForwardedOriginal(
        from_=_first(_addresses(headers, "From")),
        to=_addresses(headers, "To"),
        cc=_addresses(headers, "Cc"),
        subject=_value(headers, "Subject"),
        sent_at=_date(_raw(headers, "Date")),
        text=text,
    )
    if original.from_ is None and not original.subject and not text:
        return [*content.forwarded]
    return [original, *content.forwarded, *_inline_forwards(text)]


def _inline_forwards(text: str) -> tuple[ForwardedOriginal, ...]:
    """Forwarded blocks in the text; a bug there must not cost us the whole message."""
    return _safe(lambda: find_inline_forwards(text), ())
