"""RFC 822 bytes → the pieces of a Gmail `Message` resource (payload tree, snippet, thread keys).

Gmail shows header values unfolded with RFC 2047 words decoded, numbers parts "", "0", "0.1", …,
inlines small text bodies as base64url `body.data`, and gives every part that has a filename (or
is an attachment) an opaque `body.attachmentId` instead of data. Real attachment ids differ from
one fetch to the next — emulated here too, so adapters never key anything on them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import html
import re
import secrets
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from typing import Any

from .wire import b64url

_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|antw)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_MSGID = re.compile(r"<[^<>\s]+>")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
SNIPPET_LENGTH = 200
ATTACHMENT_PREFIX = "ANGjdJ"


def parse(raw: bytes) -> Message:
    # compat32 keeps header values exactly as written; we decode them ourselves like Gmail.
    return BytesParser(policy=policy.compat32).parsebytes(raw)


def header_value(raw_value: str) -> str:
    value = _FOLD.sub("", str(raw_value)).strip()
    if "=?" in value:
        with contextlib.suppress(ValueError, LookupError, UnicodeDecodeError):
            value = str(make_header(decode_header(value)))
    return value


def headers_of(part: Message) -> list[dict[str, str]]:
    return [{"name": name, "value": header_value(value)} for name, value in part.items()]


def first_header(msg: Message, name: str) -> str:
    value = msg.get(name)
    return header_value(value) if value is not None else ""


def message_ids(value: str) -> list[str]:
    return _MSGID.findall(value or "")


def normalize_subject(subject: str) -> str:
    return " ".join(_PREFIX.sub("", subject or "").split()).lower()


def _filename(part: Message) -> str:
    name = part.get_filename()
    return header_value(name) if name else ""


def _is_attachment(part: Message) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    return bool(_filename(part)) or disposition == "attachment" or part.get_content_type() == "message/rfc822"


def leaf_bytes(part: Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner:
            return inner[0].as_bytes()
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def attachment_id(message_id: str, part_id: str) -> str:
    # A fresh nonce per rendering, like Gmail's ever-changing attachment ids.
    token = f"{message_id}:{part_id}:{secrets.token_hex(8)}".encode()
    return ATTACHMENT_PREFIX + base64.urlsafe_b64encode(token).decode().rstrip("=")


def parse_attachment_id(value: str) -> tuple[str, str] | None:
    if not value.startswith(ATTACHMENT_PREFIX):
        return None
    encoded = value[len(ATTACHMENT_PREFIX) :]
    try:
        text = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    parts = text.split(":")
    return (parts[0], parts[1]) if len(parts) == 3 else None


def find_part(msg: Message, part_id: str) -> Message | None:
    node = msg
    if part_id == "":
        return node
    for index in part_id.split("."):
        children = node.get_payload() if node.is_multipart() else None
        if not isinstance(children, list) or not index.isdigit() or int(index) >= len(children):
            return None
        node = children[int(index)]
    return node


def payload(part: Message, message_id: str, part_id: str = "") -> dict[str, Any]:
    """The `MessagePart` tree of format=full."""
    node: dict[str, Any] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": _filename(part),
        "headers": headers_of(part),
    }
    if part.is_multipart():
        node["body"] = {"size": 0}
        children = part.get_payload()
        node["parts"] = [
            payload(child, message_id, f"{part_id}.{i}" if part_id else str(i))
            for i, child in enumerate(children)
        ]
        return node
    data = leaf_bytes(part)
    if _is_attachment(part):
        node["body"] = {"attachmentId": attachment_id(message_id, part_id), "size": len(data)}
    elif data:
        node["body"] = {"size": len(data), "data": b64url(data)}
    else:
        node["body"] = {"size": 0}
    return node


def metadata_payload(msg: Message, wanted: list[str]) -> dict[str, Any]:
    """format=metadata: top-level mimeType and headers only (optionally filtered by name)."""
    headers = headers_of(msg)
    if wanted:
        names = {w.lower() for w in wanted}
        headers = [h for h in headers if h["name"].lower() in names]
    return {"mimeType": msg.get_content_type(), "headers": headers}


def _text_of(msg: Message) -> str:
    html_fallback = ""
    for part in msg.walk():
        if part.is_multipart() or _is_attachment(part):
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            text = leaf_bytes(part).decode(charset, errors="replace")
        except LookupError:
            text = leaf_bytes(part).decode("utf-8", errors="replace")
        if ctype == "text/plain":
            return text
        html_fallback = html_fallback or html.unescape(re.sub(r"<[^>]+>", " ", text))
    return html_fallback


def snippet(msg: Message) -> str:
    """First ~200 characters of the text, whitespace collapsed, HTML-escaped as Gmail does."""
    text = " ".join(_text_of(msg).split())[:SNIPPET_LENGTH]
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def plain_text(msg: Message) -> str:
    return _text_of(msg)
