"""RFC 5322 bytes ↔ the parts of a Graph message.

`parse()` reads a stored copy into the fields the Graph message resource exposes; `compose()`
turns a Graph JSON message (sendMail, reply, forward) into RFC 5322 bytes for the post office.
Replies and forwards carry In-Reply-To/References, and forwards quote the original in Outlook's
inline form (``From:``/``Sent:``/``To:``/``Cc:``/``Subject:``) so threads and forwarded
participants are real.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import secrets
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formataddr, formatdate, getaddresses, parsedate_to_datetime
from typing import Any

from emulators.postoffice import WIRE

Recipient = tuple[str, str]  # (name, address)


@dataclass
class ParsedAttachment:
    name: str
    content_type: str
    content: bytes
    is_inline: bool
    content_id: str | None
    is_item: bool  # message/rfc822 → #microsoft.graph.itemAttachment


@dataclass
class Parsed:
    subject: str
    from_: Recipient | None
    sender: Recipient | None
    to: list[Recipient]
    cc: list[Recipient]
    bcc: list[Recipient]
    reply_to: list[Recipient]
    sent_at: float | None
    message_id: str
    in_reply_to: list[str]
    references: list[str]
    body_type: str  # "html" | "text"
    body: str
    text: str  # plain-text rendering (bodyPreview, text preference)
    headers: list[tuple[str, str]]
    importance: str
    attachments: list[ParsedAttachment] = field(default_factory=list)


_MSGID = re.compile(r"<[^<>\s]+>")
_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|vs)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def html_to_text(markup: str) -> str:
    text = re.sub(r"(?is)<(script|style|head).*?</\1>", "", markup)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>|<hr[^>]*>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text).strip()


def text_to_html(text: str) -> str:
    lines = html.escape(text).replace("\r\n", "\n").split("\n")
    return (
        '<html><head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "</head><body>\r\n<div>" + "<br>\r\n".join(lines) + "</div>\r\n</body></html>\r\n"
    )


def normalize_subject(subject: str) -> str:
    return re.sub(r"\s+", " ", _PREFIX.sub("", subject or "")).strip().lower()


def has_reply_prefix(subject: str) -> bool:
    return bool(_PREFIX.match(subject or ""))


def message_ids(value: str | None) -> list[str]:
    return _MSGID.findall(value or "")


def _recipients(msg: EmailMessage, name: str) -> list[Recipient]:
    values = [str(v) for v in msg.get_all(name, [])]
    return [(n, a) for n, a in getaddresses(values) if a]


def _importance(msg: EmailMessage) -> str:
    value = str(msg.get("Importance", "")).lower()
    priority = str(msg.get("X-Priority", "")).strip()[:1]
    if value == "high" or priority in ("1", "2"):
        return "high"
    if value == "low" or priority in ("4", "5"):
        return "low"
    return "normal"


def parse(raw: bytes) -> Parsed:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    body_part = msg.get_body(preferencelist=("html", "plain"))
    body_type, body = "text", ""
    if body_part is not None:
        body = str(body_part.get_content())
        body_type = "html" if body_part.get_content_subtype() == "html" else "text"
    plain_part = msg.get_body(preferencelist=("plain",))
    text = str(plain_part.get_content()) if plain_part is not None else html_to_text(body)
    sent_at = None
    if msg["Date"]:
        try:
            sent_at = parsedate_to_datetime(str(msg["Date"])).timestamp()
        except (TypeError, ValueError):
            sent_at = None
    from_ = _recipients(msg, "From")
    sender = _recipients(msg, "Sender") or from_
    return Parsed(
        subject=str(msg.get("Subject", "")),
        from_=from_[0] if from_ else None,
        sender=sender[0] if sender else None,
        to=_recipients(msg, "To"),
        cc=_recipients(msg, "Cc"),
        bcc=_recipients(msg, "Bcc"),
        reply_to=_recipients(msg, "Reply-To"),
        sent_at=sent_at,
        message_id=str(msg.get("Message-ID", "")).strip(),
        in_reply_to=message_ids(msg.get("In-Reply-To")),
        references=message_ids(msg.get("References")),
        body_type=body_type,
        body=body,
        text=text,
        headers=[(k, str(v)) for k, v in msg.items()],
        importance=_importance(msg),
        attachments=_attachments(msg),
    )


def _attachments(msg: EmailMessage) -> list[ParsedAttachment]:
    found: list[ParsedAttachment] = []
    for part in msg.iter_attachments():
        assert isinstance(part, EmailMessage)
        is_item = part.get_content_type() == "message/rfc822"
        if is_item:
            inner = part.get_content()  # an EmailMessage; Graph names item attachments by subject
            content = inner.as_bytes(policy=policy.SMTP)
            name = part.get_filename() or str(inner.get("Subject", "")) or "item"
        else:
            content = part.get_payload(decode=True) or b""
            name = part.get_filename() or "attachment"
        cid = part.get("Content-ID")
        found.append(
            ParsedAttachment(
                name=name,
                content_type=part.get_content_type(),
                content=content,
                is_inline=part.get_content_disposition() == "inline",
                content_id=str(cid).strip("<>") if cid else None,
                is_item=is_item,
            )
        )
    return found


# --- composing -----------------------------------------------------------------------------------


class ComposeError(ValueError):
    """The Graph message JSON cannot be sent (bad recipient, attachment or header)."""


def graph_recipients(items: Any, field_name: str) -> list[Recipient]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise ComposeError(f"'{field_name}' must be a collection of recipients")
    found: list[Recipient] = []
    for item in items:
        email_address = (item or {}).get("emailAddress") or {}
        address = str(email_address.get("address") or "").strip()
        if "@" not in address:
            raise ComposeError(f"Invalid recipient address in '{field_name}': {address!r}")
        found.append((str(email_address.get("name") or ""), address))
    return found


def _format(recipients: list[Recipient]) -> str:
    return ", ".join(formataddr(r) for r in recipients)


@dataclass
class Outgoing:
    """A message about to be sent, before it becomes bytes."""

    sender: Recipient
    subject: str = ""
    to: list[Recipient] = field(default_factory=list)
    cc: list[Recipient] = field(default_factory=list)
    bcc: list[Recipient] = field(default_factory=list)
    reply_to: list[Recipient] = field(default_factory=list)
    body_type: str = "text"
    body: str = ""
    importance: str = "normal"
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    message_id: str = ""  # kept across a draft's edits and its sending; new when empty

    def apply_graph_message(self, data: dict[str, Any]) -> None:
        """Overlay the fields a Graph ``message`` JSON carries (sendMail, reply's ``message``)."""
        if "subject" in data:
            self.subject = str(data.get("subject") or "")
        for name, attr in (("toRecipients", "to"), ("ccRecipients", "cc"),
                           ("bccRecipients", "bcc"), ("replyTo", "reply_to")):
            if name in data:
                setattr(self, attr, graph_recipients(data[name], name))
        body = data.get("body")
        if isinstance(body, dict):
            self.body_type = "html" if str(body.get("contentType", "text")).lower() == "html" else "text"
            self.body = str(body.get("content") or "")
        if data.get("importance"):
            self.importance = str(data["importance"]).lower()
        for header in data.get("internetMessageHeaders") or []:
            name = str(header.get("name", ""))
            if not name.lower().startswith("x-"):
                raise ComposeError(
                    f"The internet message header name '{name}' should start with 'x-' or 'X-'."
                )
            self.headers.append((name, str(header.get("value", ""))))
        for item in data.get("attachments") or []:
            self.attachments.append(_graph_attachment(item))


def _graph_attachment(item: dict[str, Any]) -> ParsedAttachment:
    kind = str(item.get("@odata.type", "")).lower()
    if kind.endswith("fileattachment"):
        try:
            content = base64.b64decode(item.get("contentBytes") or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ComposeError("contentBytes is not valid base64") from exc
        return ParsedAttachment(
            name=str(item.get("name") or "attachment"),
            content_type=str(item.get("contentType") or "application/octet-stream"),
            content=content,
            is_inline=bool(item.get("isInline")),
            content_id=item.get("contentId"),
            is_item=False,
        )
    raise ComposeError(f"Unsupported attachment type {item.get('@odata.type')!r} (emulator: fileAttachment)")


def exchange_message_id() -> str:
    """A Message-ID as Exchange Online writes it: the mailbox server's name in upper case on both sides
    of the @, e.g. ``<MWHPR6E1BE060@MWHPR1120.namprd22.prod.outlook.com>`` in the Graph docs' message
    example (tests/fixtures/payloads/graph/message.json). Cores must not assume lower-case domains."""
    server = f"DM6PR{secrets.randbelow(90) + 10:02d}MB{secrets.randbelow(9000) + 1000}"
    return f"<{server}{secrets.token_hex(14).upper()}@{server}.namprd{server[5:7]}.prod.outlook.com>"


def compose(out: Outgoing, now: float, *, draft: bool = False) -> bytes:
    """RFC 5322 bytes of ``out``; a draft may have no recipient yet (sending it then fails)."""
    if not (draft or out.to or out.cc or out.bcc):
        raise ComposeError("At least one recipient is required, but none were found.")
    msg = EmailMessage(policy=WIRE)  # Outlook writes an Exchange id in In-Reply-To on one line
    msg["From"] = formataddr(out.sender)
    for name, values in (("To", out.to), ("Cc", out.cc), ("Bcc", out.bcc), ("Reply-To", out.reply_to)):
        if values:
            msg[name] = _format(values)
    msg["Subject"] = out.subject
    msg["Date"] = formatdate(now, localtime=False)
    msg["Message-ID"] = out.message_id or exchange_message_id()
    if out.in_reply_to:
        msg["In-Reply-To"] = " ".join(out.in_reply_to)
    if out.references:
        msg["References"] = " ".join(out.references)
    if out.importance in ("high", "low"):
        msg["Importance"] = out.importance.capitalize()
    for name, value in out.headers:
        msg[name] = value
    msg["MIME-Version"] = "1.0"
    if out.body_type == "html":
        msg.set_content(html_to_text(out.body))
        msg.add_alternative(out.body, subtype="html")
    else:
        msg.set_content(out.body)
    for att in out.attachments:
        maintype, _, subtype = att.content_type.partition("/")
        if att.is_item:
            inner = BytesParser(policy=policy.SMTP).parsebytes(att.content)
            msg.add_attachment(inner, filename=att.name)
            continue
        msg.add_attachment(
            att.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=att.name,
            disposition="inline" if att.is_inline else "attachment",
            cid=f"<{att.content_id}>" if att.content_id else None,
        )
    return msg.as_bytes()


def quoted_original(original: Parsed, as_html: bool) -> str:
    """Outlook's inline block under a reply/forward: who wrote the original, to whom, when."""
    sent = formatdate(original.sent_at or 0, localtime=False)
    lines = [
        ("From", formataddr(original.from_) if original.from_ else ""),
        ("Sent", sent),
        ("To", "; ".join(formataddr(r) for r in original.to)),
    ]
    if original.cc:
        lines.append(("Cc", "; ".join(formataddr(r) for r in original.cc)))
    lines.append(("Subject", original.subject))
    if as_html:
        head = "<br>\r\n".join(f"<b>{k}:</b> {html.escape(v)}" for k, v in lines)
        inner = original.body if original.body_type == "html" else text_to_html(original.text)
        return f'<hr style="display:inline-block;width:98%">\r\n<div>{head}</div>\r\n{inner}'
    head = "\r\n".join(f"{k}: {v}" for k, v in lines)
    return f"________________________________\r\n{head}\r\n\r\n{original.text}"
