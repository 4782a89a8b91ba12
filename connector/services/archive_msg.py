"""Outlook .msg files as RFC 5322 messages, read with olefile (BSD) and our own reading of the MAPI properties.

A .msg is an OLE compound file: each MAPI property is a stream ``__substg1.0_<id><type>`` (strings and
binaries) or an entry of ``__properties_version1.0`` (times and numbers); recipients and attachments are
sub-storages with the same layout. Received mail carries its Internet headers whole
(PR_TRANSPORT_MESSAGE_HEADERS): those are kept as they are, and the body and attachments are rebuilt from
the properties; mail without them (sent items, drafts) gets its headers from the properties, Bcc included,
since a Bcc to a dropbox address is visible only on the sender's copy. The result goes through the same
MIME parser as any other mail. (extract-msg is GPL-3.0, which this product does not ship.)
"""

from __future__ import annotations

import codecs
import io
import struct
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import olefile

from connector.errors import MimeError

PT_LONG, PT_SYSTIME, PT_STRING8, PT_UNICODE, PT_BINARY, PT_OBJECT = 0x0003, 0x0040, 0x001E, 0x001F, 0x0102, 0x000D
TRANSPORT_HEADERS, SUBJECT, BODY, HTML, MESSAGE_ID = 0x007D, 0x0037, 0x1000, 0x1013, 0x1035
IN_REPLY_TO, REFERENCES, SUBMIT_TIME, DELIVERY_TIME, CODEPAGE = 0x1042, 0x1039, 0x0039, 0x0E06, 0x3FDE
SENDER_NAME, SENDER_EMAIL, SENDER_SMTP, SENDER_ADDRTYPE = 0x0C1A, 0x0C1F, 0x5D01, 0x0C1E
DISPLAY_NAME, EMAIL_ADDRESS, SMTP_ADDRESS, ADDRTYPE, RECIPIENT_TYPE = 0x3001, 0x3003, 0x39FE, 0x3002, 0x0C15
ATTACH_DATA, ATTACH_FILENAME, ATTACH_LONG_FILENAME, ATTACH_MIME_TAG = 0x3701, 0x3704, 0x3707, 0x370E
_ROLES = {1: "To", 2: "Cc", 3: "Bcc"}
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_MIME_HEADERS = ("content-", "mime-version")


class _Storage:
    """The properties of one storage: the message itself, a recipient, an attachment or an embedded message."""

    def __init__(self, ole: olefile.OleFileIO, prefix: list[str], header: int) -> None:
        self.ole, self.prefix = ole, prefix
        self.fixed = self._fixed(header)

    def _fixed(self, header: int) -> dict[int, tuple[int, bytes]]:
        raw = self.stream("__properties_version1.0") or b""
        found = {}
        for offset in range(header, len(raw) - 15, 16):
            kind, prop, _flags, value = struct.unpack_from("<HHI8s", raw, offset)
            found[prop] = (kind, value)
        return found

    def stream(self, name: str) -> bytes | None:
        path = [*self.prefix, name]
        return self.ole.openstream(path).read() if self.ole.exists("/".join(path)) else None

    def text(self, prop: int, codepage: str = "cp1252") -> str:
        unicode = self.stream(f"__substg1.0_{prop:04X}{PT_UNICODE:04X}")
        if unicode is not None:
            return unicode.decode("utf-16-le", "replace").rstrip("\x00")
        legacy = self.stream(f"__substg1.0_{prop:04X}{PT_STRING8:04X}")
        return legacy.decode(codepage, "replace").rstrip("\x00") if legacy is not None else ""

    def binary(self, prop: int) -> bytes | None:
        return self.stream(f"__substg1.0_{prop:04X}{PT_BINARY:04X}")

    def number(self, prop: int) -> int | None:
        kind, value = self.fixed.get(prop, (0, b""))
        return struct.unpack_from("<i", value)[0] if kind == PT_LONG else None

    def time(self, prop: int) -> datetime | None:
        kind, value = self.fixed.get(prop, (0, b""))
        if kind != PT_SYSTIME:
            return None
        ticks = struct.unpack_from("<q", value)[0]
        return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10) if ticks > 0 else None

    def children(self, marker: str) -> list[list[str]]:
        depth = len(self.prefix) + 1
        return sorted(path for path in self.ole.listdir(streams=False, storages=True)
                      if len(path) == depth and path[:-1] == self.prefix and path[-1].startswith(marker))


def msg_to_rfc822(data: bytes) -> bytes:
    """The .msg file's message as RFC 5322 bytes; MimeError when it is not a readable .msg."""
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:  # bytes, never a file name (olefile takes both)
            return _message(_Storage(ole, [], 32))
    except (OSError, struct.error, ValueError) as exc:  # olefile raises OSError for a file that is not OLE
        raise MimeError(f"not a readable Outlook .msg file: {exc}") from exc


def _message(storage: _Storage) -> bytes:
    codepage = _codepage(storage)
    body = _body(storage, codepage)
    recipients = _recipients(storage, codepage)
    transport = storage.text(TRANSPORT_HEADERS, codepage)
    if transport.strip():
        head = _without_mime_headers(transport)
        if recipients["Bcc"] and "\nbcc:" not in f"\n{head.lower()}":
            head += f"Bcc: {', '.join(recipients['Bcc'])}\n"
        return head.encode("utf-8") + body.as_bytes()
    _headers_from_properties(storage, codepage, body, recipients)
    return body.as_bytes()


def _codepage(storage: _Storage) -> str:
    number = storage.number(CODEPAGE) or 1252
    name = {65001: "utf-8", 28591: "latin-1"}.get(number, f"cp{number}")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "cp1252"


def _body(storage: _Storage, codepage: str) -> EmailMessage:
    body = EmailMessage()
    text = storage.text(BODY, codepage)
    html_raw = storage.binary(HTML)
    html = _decode(html_raw, codepage) if html_raw is not None else storage.text(HTML, codepage)
    if html and text:
        body.set_content(text)
        body.add_alternative(html, subtype="html")
    elif html:
        body.set_content(html, subtype="html")
    else:
        body.set_content(text)
    for path in storage.children("__attach_version1.0_"):
        _attach(body, _Storage(storage.ole, path, 8), codepage)
    return body


def _attach(body: EmailMessage, attachment: _Storage, codepage: str) -> None:
    name = (attachment.text(ATTACH_LONG_FILENAME, codepage) or attachment.text(ATTACH_FILENAME, codepage)
            or attachment.text(DISPLAY_NAME, codepage) or "attachment")
    embedded = [*attachment.prefix, f"__substg1.0_{ATTACH_DATA:04X}{PT_OBJECT:04X}"]
    if attachment.ole.exists("/".join(embedded)):  # an attached e-mail: read as a forwarded original
        inner = message_from_bytes(_message(_Storage(attachment.ole, embedded, 24)), policy=policy.default)
        body.add_attachment(inner, filename=name)
        return
    data = attachment.binary(ATTACH_DATA) or b""
    maintype, _, subtype = (attachment.text(ATTACH_MIME_TAG, codepage) or "application/octet-stream").partition("/")
    body.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream", filename=name)


def _recipients(storage: _Storage, codepage: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"To": [], "Cc": [], "Bcc": []}
    for path in storage.children("__recip_version1.0_"):
        person = _Storage(storage.ole, path, 8)
        address = person.text(SMTP_ADDRESS, codepage)
        if not address and person.text(ADDRTYPE, codepage).upper() in ("SMTP", ""):
            address = person.text(EMAIL_ADDRESS, codepage)
        role = _ROLES.get(person.number(RECIPIENT_TYPE) or 1)
        if address and role:
            found[role].append(formataddr((person.text(DISPLAY_NAME, codepage), address)))
    return found


def _headers_from_properties(storage: _Storage, codepage: str, body: EmailMessage,
                             recipients: dict[str, list[str]]) -> None:
    sender = storage.text(SENDER_SMTP, codepage)
    if not sender and storage.text(SENDER_ADDRTYPE, codepage).upper() in ("SMTP", ""):
        sender = storage.text(SENDER_EMAIL, codepage)
    values = {"From": formataddr((storage.text(SENDER_NAME, codepage), sender)) if sender else "",
              **{role: ", ".join(people) for role, people in recipients.items()},
              "Subject": storage.text(SUBJECT, codepage), "Message-ID": storage.text(MESSAGE_ID, codepage),
              "In-Reply-To": storage.text(IN_REPLY_TO, codepage), "References": storage.text(REFERENCES, codepage)}
    sent = storage.time(SUBMIT_TIME) or storage.time(DELIVERY_TIME)
    if sent is not None:
        values["Date"] = format_datetime(sent)
    for name, value in values.items():
        if value:
            body[name] = value


def _without_mime_headers(headers: str) -> str:
    """The transport headers less the original's MIME structure (the body is rebuilt), one header a line."""
    kept: list[str] = []
    keep = False
    for line in headers.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        if line[0] in " \t":
            if keep:
                kept.append(line)
            continue
        keep = not line.lower().startswith(_MIME_HEADERS)
        if keep:
            kept.append(line)
    return "".join(f"{line}\n" for line in kept)


def _decode(raw: bytes, codepage: str) -> str:
    try:
        return raw.decode("utf-8").rstrip("\x00")
    except UnicodeDecodeError:
        return raw.decode(codepage, "replace").rstrip("\x00")
