"""RFC 5322 bytes → the provider-neutral `Envelope`.

`parse` reads any message the SMTP dropbox, an .eml file or a provider's raw download hands us.
It is written for hostile input: the standard library's ``email`` package (``policy.default``)
raises surprising exceptions on garbage headers, so every header is read on its own and falls
back to its raw text; bodies in unknown charsets are decoded as UTF-8, else Windows-1252, with
replacement characters. HTML-only mail is stored as `connector.mail.html_text.html_to_text`.
"""

from __future__ import annotations

import mimetypes
import re
import time
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import TypeVar

from connector.errors import MimeError
from connector.mail import fields
from connector.mail.envelope import (
    Address,
    Attachment,
    Direction,
    Envelope,
    ForwardedOriginal,
    Source,
)
from connector.mail.forwards import find_inline_forwards
from connector.mail.html_text import html_to_text

T = TypeVar("T")

_MAX_DEPTH = 20  # nesting of multiparts / attached messages we follow
# Hard limits against hostile mail; each one, when hit, is a note on the envelope (what parsed is kept).
MAX_REFERENCES = 100  # References kept: the first (the thread's root) and the latest 99 (RFC 5322 3.6.4)
MAX_PARAMETERS = 64  # Content-Type/-Disposition parameters: the email package parses RFC 2231 floods in O(n²)
MAX_PARTS = 2_000  # MIME parts walked
MAX_ADDRESSES = 1_000  # addresses kept per recipient field (each is looked up: a database has bind limits)
PARSE_SECONDS = 10.0  # the walk of the MIME tree stops (keeping what it read) after this long
_BODY_TYPES = frozenset({"text/plain", "text/html"})
_RECIPIENT_HEADERS = ("To", "Cc", "Bcc", "Delivered-To", "X-Original-To")
# A Content-Type/-Disposition field with its folded continuation lines: its name, then its value.
_PARAMETERIZED_FIELD = re.compile(rb"^(Content-(?:Type|Disposition))[ \t]*:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)",
                                  re.IGNORECASE | re.MULTILINE)
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
    problems: list[str] = []
    try:
        msg = _message(_defuse_parameter_floods(raw, problems), problems)
        headers = fields.read(msg)
        if not headers:
            raise MimeError("no header section: the message does not start with 'Name: value' headers")
        from_ = fields.first(fields.addresses(headers, "From"))
        recipients = {name: fields.addresses(headers, name) for name in _RECIPIENT_HEADERS}
        subject = fields.value(headers, "Subject")
        message_id = fields.raw(headers, "Message-ID")
        if from_ is None and not any(recipients.values()) and not subject and not message_id:
            raise MimeError("not an e-mail: no From, no recipients, no Message-ID and no Subject")
        content = _Content(problems=problems)
        content.collect(msg, depth=0)
        return _envelope(raw, headers, content, _Read(from_, recipients, subject), source=source, mailbox=mailbox,
                         provider_message_id=provider_message_id, thread_key=thread_key, direction=direction)
    except MimeError:
        raise
    except Exception as exc:  # last resort: the email package has many undocumented failure modes
        raise MimeError(f"unreadable message ({type(exc).__name__}: {exc})") from exc


def _message(raw: bytes, problems: list[str]) -> Message:
    """The MIME tree; when the strict parser trips over a malformed field, the lenient one (compat32)."""
    try:
        return BytesParser(policy=fields.message_policy()).parsebytes(raw)
    except Exception as exc:  # e.g. an IndexError on a truncated Content-Type parameter
        problems.append(f"malformed MIME structure read leniently ({type(exc).__name__})")
        return BytesParser(policy=policy.compat32).parsebytes(raw)


@dataclass(frozen=True)
class _Read:
    """What `parse` read from the headers to tell an e-mail from garbage, used again rather than read twice."""

    from_: Address | None
    recipients: dict[str, tuple[Address, ...]]
    subject: str


def _envelope(raw: bytes, headers: fields.Headers, content: _Content, read: _Read, *, source: Source,
              mailbox: str, provider_message_id: str, thread_key: str, direction: Direction | None) -> Envelope:
    recipients = dict(read.recipients)
    for name, found in recipients.items():
        if len(found) > MAX_ADDRESSES:
            content.problems.append(f"{len(found)} addresses in {name}: kept the first {MAX_ADDRESSES}")
            recipients[name] = found[:MAX_ADDRESSES]
    text = content.text()
    references = fields.message_ids(" ".join(fields.raw_all(headers, "References")))
    if len(references) > MAX_REFERENCES:
        content.problems.append(f"{len(references)} References: kept the first and the last {MAX_REFERENCES - 1}")
        references = (references[0], *references[-(MAX_REFERENCES - 1):])
    return Envelope(
        source=source,
        internet_message_id=fields.message_id(fields.raw(headers, "Message-ID")) or fields.synthetic_id(raw),
        subject=read.subject,
        mailbox=mailbox,
        provider_message_id=provider_message_id,
        thread_key=thread_key,
        in_reply_to=fields.message_ids(fields.raw(headers, "In-Reply-To"), bare_ok=True),
        references=references,
        from_=read.from_,
        sender=fields.first(fields.addresses(headers, "Sender")),
        reply_to=fields.addresses(headers, "Reply-To"),
        to=recipients["To"],
        cc=recipients["Cc"],
        bcc=recipients["Bcc"],
        delivered_to=fields.unique(recipients["Delivered-To"] + recipients["X-Original-To"]),
        sent_at=fields.date(fields.raw(headers, "Date")),
        text=text,
        html=content.html_text(),
        attachments=tuple(content.attachments),
        direction=direction,
        headers=tuple((name, decoded) for name, decoded, _ in headers),
        forwarded=(*content.forwarded, *_inline_forwards(text)),
        complete=True,
        problems=tuple(content.problems),
        raw=raw,
    )


# --- bodies and attachments ----------------------------------------------------------------------


def _content_type(part: Message) -> str:
    return fields.safe(part.get_content_type, "text/plain").lower()


def _payload_bytes(part: Message) -> bytes:
    if part.is_multipart():  # message/*: the attached message itself, as it was sent
        return b"".join(fields.safe(lambda m=m: m.as_bytes(policy=policy.compat32), b"") for m in part.get_payload())
    decoded = fields.safe(lambda: part.get_payload(decode=True), None)
    if isinstance(decoded, bytes):
        return decoded
    # The raw payload as stored: get_payload() itself decodes 8-bit text with the declared charset and
    # raises for codecs such as "idna" that refuse the "replace" error handler.
    return str(part._payload or "").encode("utf-8", "surrogateescape")


def _body_text(part: Message) -> str:
    text = fields.decode_bytes(_payload_bytes(part), fields.safe(part.get_content_charset, None))
    return "\n".join(fields.LINE_BREAK.split(text))


@dataclass
class _Content:
    """Bodies, attachments and attached forwarded messages found walking the MIME tree."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: list[ForwardedOriginal] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # parts not read, limits hit: noted, never fatal
    parts: int = 0
    deadline: float = field(default_factory=lambda: time.monotonic() + PARSE_SECONDS)

    def text(self) -> str:
        plain = "\n\n".join(self.plain).strip()
        if plain or not self.html:  # some senders put an empty text/plain next to the real HTML
            return plain
        return html_to_text("\n".join(self.html))

    def html_text(self) -> str | None:
        return "\n".join(self.html) if self.html else None

    def collect(self, part: Message, depth: int) -> None:
        """Walk ``part``: one part that cannot be read is noted and skipped, the rest of the message kept."""
        if self._over_a_limit(depth):
            return
        self.parts += 1
        try:
            self._collect(part, depth)
        except Exception as exc:  # the email package on hostile input: lose this part, not the message
            self.problems.append(f"a {_content_type(part)} part could not be read ({type(exc).__name__}: {exc})")

    def _over_a_limit(self, depth: int) -> bool:
        for hit, problem in ((depth > _MAX_DEPTH, f"MIME nesting deeper than {_MAX_DEPTH}: inner parts not read"),
                             (self.parts >= MAX_PARTS, f"more than {MAX_PARTS} MIME parts: the rest not read"),
                             (time.monotonic() > self.deadline, f"reading took over {PARSE_SECONDS:.0f} s: "
                                                                "the remaining parts not read")):
            if hit:
                if problem not in self.problems:
                    self.problems.append(problem)
                return True
        return False

    def _collect(self, part: Message, depth: int) -> None:
        ctype = _content_type(part)
        if ctype in ("message/rfc822", "message/global"):
            self.attachments.append(self._attachment(part, ctype))
            self.forwarded.extend(_attached_originals(part, depth + 1, self))
        elif part.is_multipart():
            for child in part.get_payload():
                if isinstance(child, Message):
                    self.collect(child, depth + 1)
        else:
            if ctype.startswith("multipart/"):  # declared multipart without a boundary
                ctype = "text/plain"
            disposition = fields.safe(part.get_content_disposition, None)
            if ctype in _BODY_TYPES and disposition != "attachment" and not _filename(part):
                (self.plain if ctype == "text/plain" else self.html).append(_body_text(part))
            else:
                self.attachments.append(self._attachment(part, ctype))

    def _attachment(self, part: Message, ctype: str) -> Attachment:
        content = _payload_bytes(part)
        disposition = fields.safe(part.get_content_disposition, None)
        extension = _MIME_TYPES.guess_extension(ctype) or ".bin"
        name = (
            _filename(part)
            or _attached_subject(part, extension)
            or (f"attachment-{len(self.attachments) + 1}{extension}")
        )
        has_content_id = bool(fields.safe(lambda: str(part.get("Content-ID", "")).strip(), ""))
        return Attachment(
            name=name,
            content_type=ctype,
            size=len(content),
            content=content,
            is_inline=has_content_id and disposition != "attachment",
        )


def _defuse_parameter_floods(raw: bytes, problems: list[str]) -> bytes:
    """Cut every Content-Type/-Disposition field to its first MAX_PARAMETERS parameters.

    Done on the raw bytes, before the email package sees them: its parser reads these fields while it
    splits the MIME tree, in time quadratic in their parameters (8,000 RFC 2231 pieces: 10 s).
    """
    def bare(field: re.Match[bytes]) -> bytes:
        if field[0].count(b";") <= MAX_PARAMETERS:
            return field[0]
        problems.append(f"{field[1].decode()} with {field[0].count(b';')} parameters: read the first {MAX_PARAMETERS}")
        value = re.sub(rb"\r?\n[ \t]", b" ", field[2])
        return field[1] + b":" + b";".join(value.split(b";")[:MAX_PARAMETERS + 1])

    return _PARAMETERIZED_FIELD.sub(bare, raw) if raw.count(b";") > MAX_PARAMETERS else raw


def _filename(part: Message) -> str:
    """The part's file name, without any directory a hostile sender put in it."""
    name = fields.clean(fields.safe(part.get_filename, None) or "")
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip()


def _attached_subject(part: Message, extension: str) -> str:
    """``<subject>.eml`` for an attached message without a file name."""
    payload = part.get_payload()
    if not isinstance(payload, list) or not payload or not isinstance(payload[0], Message):
        return ""
    subject = fields.value(fields.read(payload[0]), "Subject")
    subject = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", subject).strip(" .")
    return f"{subject[:120]}{extension}" if subject else ""


def _attached_originals(part: Message, depth: int, outer: _Content) -> list[ForwardedOriginal]:
    """The forwarded original of a message/rfc822 part, then any forwards nested inside it."""
    payload = part.get_payload()
    if isinstance(payload, list):
        inner = payload[0] if payload and isinstance(payload[0], Message) else None
    else:  # encoded (e.g. base64) message/rfc822: parse the decoded bytes
        inner = BytesParser(policy=fields.message_policy()).parsebytes(_payload_bytes(part))
    if inner is None or depth > _MAX_DEPTH:
        return []
    headers = fields.read(inner)
    content = _Content(parts=outer.parts, deadline=outer.deadline)
    content.collect(inner, depth)
    outer.problems.extend(content.problems)
    outer.parts = content.parts
    text = content.text()
    original = ForwardedOriginal(
        from_=fields.first(fields.addresses(headers, "From")),
        to=fields.addresses(headers, "To"),
        cc=fields.addresses(headers, "Cc"),
        subject=fields.value(headers, "Subject"),
        sent_at=fields.date(fields.raw(headers, "Date")),
        text=text,
    )
    if original.from_ is None and not original.subject and not text:
        return [*content.forwarded]
    return [original, *content.forwarded, *_inline_forwards(text)]


def _inline_forwards(text: str) -> tuple[ForwardedOriginal, ...]:
    """Forwarded blocks in the text; a bug there must not cost us the whole message."""
    return fields.safe(lambda: find_inline_forwards(text), ())
