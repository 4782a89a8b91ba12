"""users.messages.send: decode the upload, apply Gmail's sending rules, deliver via the post office.

Gmail sends as the authenticated user: a From naming the account or one of its accepted send-as aliases is
kept, any other is rewritten to the account (`sendas`); the copy labelled SENT is the account's either way.
Gmail adds a Message-ID when missing, refuses mail without recipients, and honours a requested ``threadId``
only when the reference's three rules hold: the thread exists (else 404), References/In-Reply-To are set,
and the Subject matches — otherwise the message silently starts a new thread. The post office keeps Bcc on
the sender's SENT copy only.
"""

from __future__ import annotations

import secrets
import threading
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser

from emulators.postoffice import WIRE, PostOffice

from . import mime
from .sendas import may_send_as
from .state import Mailbox, MailStore, StoredMessage, recipients
from .wire import ApiError, ApiRequest, b64url_decode, invalid, not_found


def read_message_upload(req: ApiRequest, upload: bool) -> tuple[bytes, str | None]:
    """(RFC 822 bytes, requested threadId) from a JSON body or an /upload/ media request."""
    if not upload:
        body = req.json()
        if not body.get("raw"):
            raise invalid("'raw' RFC822 payload message string or uploading message via /upload/* URL required")
        return b64url_decode(str(body["raw"])), body.get("threadId")
    kind = req.param("uploadType") or "media"
    if kind == "media":
        return req.body, None
    if kind != "multipart":
        raise ApiError(501, f"uploadType={kind} is not implemented by the emulator", "notImplemented")
    ctype = req.headers.get("content-type", "")
    related = BytesParser(policy=policy.compat32).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + req.body)
    parts = related.get_payload() if related.is_multipart() else []
    if len(parts) != 2:
        raise invalid("Multipart upload needs a metadata part and a media part")
    meta = ApiRequest("POST", "", body=parts[0].get_payload(decode=True) or b"").json()
    return mime.leaf_bytes(parts[1]), meta.get("threadId")  # message/rfc822 parses as a nested message


class Sender:
    def __init__(self, store: MailStore, post_office: PostOffice) -> None:
        self._store = store
        self._post_office = post_office
        self._lock = threading.Lock()  # one send at a time keeps thread hints unambiguous

    def send(self, mailbox: Mailbox, raw: bytes, thread_id: str | None) -> StoredMessage:
        msg = as_account(mailbox, raw)
        if not recipients(msg):
            raise invalid("Recipient address required")
        rfc822_id = str(msg["Message-ID"]).strip()
        with self._lock:
            if thread_id and requested_thread(self._store, mailbox, msg, str(thread_id)):
                self._store.expect_thread(mailbox.address, rfc822_id, str(thread_id))
            self._post_office.send(mailbox.address, msg.as_bytes())
        with self._store.lock:
            sent = [mailbox.messages[i] for i in mailbox.by_rfc822.get(rfc822_id, [])
                    if "SENT" in mailbox.messages[i].label_ids]
        if not sent:
            raise ApiError(500, "Internal error encountered.", "backendError")
        return sent[-1]


def as_account(mailbox: Mailbox, raw: bytes) -> EmailMessage:
    """The message as Gmail stores what the user wrote: From is the account or an accepted alias of it, a
    Message-ID is added."""
    msg = BytesParser(policy=WIRE).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    sender = msg["From"].addresses[0] if msg["From"] and msg["From"].addresses else None
    if sender is None or not may_send_as(mailbox, sender.addr_spec):
        display = sender.display_name if sender and sender.display_name else mailbox.display_name
        del msg["From"]
        msg["From"] = Address(display or "", addr_spec=mailbox.address)
    if not msg["Message-ID"]:
        msg["Message-ID"] = f"<CA+{secrets.token_urlsafe(24)}@mail.gmail.com>"
    return msg


def requested_thread(store: MailStore, mailbox: Mailbox, msg: EmailMessage, thread_id: str) -> bool:
    """Whether a message (sent or a draft) joins the thread asked for: it must exist (else 404), and the
    message must have References/In-Reply-To and a matching Subject — else it starts a thread of its own
    (developers.google.com/gmail/api/guides/threads)."""
    with store.lock:
        members = mailbox.thread_messages(thread_id)
        if not members:
            raise not_found()
        has_refs = bool(mime.message_ids(str(msg["References"] or "") + str(msg["In-Reply-To"] or "")))
        subject = mime.normalize_subject(str(msg["Subject"] or ""))
        return has_refs and any(mime.normalize_subject(m.subject) == subject for m in members)
