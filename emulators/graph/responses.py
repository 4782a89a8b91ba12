"""reply, replyAll and forward as Outlook writes them, sent at once or saved as a draft (createReply…).

The answer goes to the original's Reply-To or sender (to its recipients when the user answers their
own mail), gets ``RE: ``/``FW: `` once, In-Reply-To/References naming the original, and quotes it in
Outlook's inline form; a forward keeps the original's attachments. The action's ``message`` overlays
whatever it sets (recipients, Bcc, body…), as the reply/createReply references describe.
"""

from __future__ import annotations

import html
from typing import Any

from . import mime
from .state import User

PREFIXES = {"reply": "RE: ", "replyAll": "RE: ", "forward": "FW: "}


def without(recipients: list[mime.Recipient], address: str) -> list[mime.Recipient]:
    seen: set[str] = set()
    kept: list[mime.Recipient] = []
    for name, addr in recipients:
        if addr.lower() != address and addr.lower() not in seen:
            seen.add(addr.lower())
            kept.append((name, addr))
    return kept


def _recipients(out: mime.Outgoing, user: User, original: mime.Parsed, kind: str, data: dict[str, Any]) -> None:
    own = user.address.lower()
    sent_by_me = bool(original.from_ and original.from_[1].lower() == own)
    author = original.reply_to or ([original.from_] if original.from_ else [])
    if kind == "reply":
        out.to = original.to if sent_by_me else author
    elif kind == "replyAll":
        head = original.to if sent_by_me else author
        rest = [] if sent_by_me else original.to
        out.to = without(head + rest, own)
        out.cc = without(original.cc, own)
    else:
        out.to = mime.graph_recipients(data.get("torecipients"), "toRecipients")
        if not out.to and isinstance(data.get("message"), dict):
            out.to = mime.graph_recipients(data["message"].get("toRecipients"), "toRecipients")
        out.attachments = [a for a in original.attachments if not a.is_inline]


def response_outgoing(user: User, original: mime.Parsed, kind: str, data: dict[str, Any]) -> mime.Outgoing:
    """The answer to ``original`` (``kind``: reply, replyAll, forward); raises `mime.ComposeError`."""
    out = mime.Outgoing(sender=(user.display_name, user.address))
    prefix = PREFIXES[kind]
    out.subject = original.subject if original.subject.upper().startswith(prefix) else prefix + original.subject
    _recipients(out, user, original, kind, data)
    out.in_reply_to = [original.message_id] if original.message_id else []
    out.references = [*original.references, *out.in_reply_to]
    comment = str(data.get("comment") or "")
    as_html = original.body_type == "html"
    quoted = mime.quoted_original(original, as_html)
    if as_html:
        out.body_type = "html"
        out.body = f"<html><body><div>{html.escape(comment)}</div>\r\n{quoted}</body></html>"
    else:
        out.body = f"{comment}\r\n\r\n{quoted}"
    if isinstance(data.get("message"), dict):
        out.apply_graph_message(data["message"])
    return out
