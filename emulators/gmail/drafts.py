"""users.drafts: create, update, get, list, delete, send.

As the drafts guide (developers.google.com/gmail/api/guides/drafts) describes: a draft is a container
with a stable id around a message carrying the DRAFT label; the message "cannot be edited once created,
but it can be replaced" — update deletes it and adds a new one, with a new id; sending deletes the draft
and creates "a new message with an updated ID … with the SENT system label", returned by drafts.send.
A draft message is an ordinary message otherwise: threads.get, messages.list and history
(messageAdded/messageDeleted) show it, in the thread it replies to when Gmail's threading rules hold.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from .send import Sender, as_account, read_message_upload, requested_thread
from .state import Mailbox, MailStore, StoredMessage
from .wire import ApiError, ApiRequest, ApiResponse, b64url_decode, invalid, not_found

if TYPE_CHECKING:
    from .api import Call, GmailApi


def _read_draft(req: ApiRequest, upload: bool) -> tuple[bytes, str | None]:
    """(RFC 822 bytes, requested threadId) of a Draft body ``{"message": {"raw", "threadId"}}`` or an upload."""
    if upload:
        return read_message_upload(req, True)
    message = req.json().get("message") or {}
    if not message.get("raw"):
        raise invalid("Missing draft message")
    return b64url_decode(str(message["raw"])), message.get("threadId")


class Drafts:
    def __init__(self, api: GmailApi, store: MailStore, sender: Sender) -> None:
        self._api, self._store, self._sender = api, store, sender

    def _save(self, call: Call, raw: bytes, thread_id: str | None) -> StoredMessage:
        msg = as_account(call.mailbox, raw)
        hint = str(thread_id) if thread_id and requested_thread(self._store, call.mailbox, msg, str(thread_id)) \
            else None
        return self._store.add_draft(call.mailbox, msg.as_bytes(), hint, self._api.clock.now())

    @staticmethod
    def _resource(draft_id: str, msg: StoredMessage) -> dict[str, Any]:
        return {"id": draft_id, "message": {"id": msg.id, "threadId": msg.thread_id, "labelIds": list(msg.label_ids)}}

    def _held(self, mailbox: Mailbox, draft_id: str) -> StoredMessage:
        with self._store.lock:
            message_id = mailbox.drafts.get(draft_id)
            msg = mailbox.messages.get(message_id or "")
            if msg is None or msg.deleted:
                raise not_found()
            return msg

    def create(self, call: Call) -> dict[str, Any]:
        raw, thread_id = _read_draft(call.req, call.upload)
        msg = self._save(call, raw, thread_id)
        draft_id = "r" + str(secrets.randbits(63))
        with self._store.lock:
            call.mailbox.drafts[draft_id] = msg.id
        return self._resource(draft_id, msg)

    def update(self, call: Call) -> dict[str, Any]:
        old = self._held(call.mailbox, call.args["id"])
        raw, thread_id = _read_draft(call.req, call.upload)
        msg = self._save(call, raw, thread_id)
        with self._store.lock:
            call.mailbox.drafts[call.args["id"]] = msg.id
        self._store.delete(call.mailbox.address, old.id)  # replaced, not edited: a new message id
        return self._resource(call.args["id"], msg)

    def get(self, call: Call) -> dict[str, Any]:
        fmt = self._api.format_of(call)
        msg = self._held(call.mailbox, call.args["id"])
        with self._store.lock:
            return {"id": call.args["id"], "message": self._api.render(msg, fmt, call.req.params("metadataHeaders"))}

    def list(self, call: Call) -> dict[str, Any]:
        with self._store.lock:
            held = [(d, call.mailbox.messages[m]) for d, m in call.mailbox.drafts.items()
                    if not call.mailbox.messages[m].deleted]
        held.sort(key=lambda item: item[1].internal_date_ms, reverse=True)
        out: dict[str, Any] = {"resultSizeEstimate": len(held)}
        if held:
            out["drafts"] = [{"id": d, "message": {"id": m.id, "threadId": m.thread_id}} for d, m in held]
        return out

    def delete(self, call: Call) -> ApiResponse:
        msg = self._held(call.mailbox, call.args["id"])
        with self._store.lock:
            del call.mailbox.drafts[call.args["id"]]
        self._store.delete(call.mailbox.address, msg.id)  # "immediately and permanently", not to TRASH
        return ApiResponse.empty()

    def send(self, call: Call) -> dict[str, Any]:
        body = {} if call.upload else call.req.json()
        draft_id = str(body.get("id") or "")
        if not draft_id:
            raise ApiError(400, "Missing draft ID", "invalidArgument")
        held = self._held(call.mailbox, draft_id)
        raw = b64url_decode(str(body["message"]["raw"])) if (body.get("message") or {}).get("raw") else held.raw
        sent = self._sender.send(call.mailbox, raw, held.thread_id)  # while the draft still holds the thread
        with self._store.lock:
            del call.mailbox.drafts[draft_id]
        self._store.delete(call.mailbox.address, held.id)
        return {"id": sent.id, "threadId": sent.thread_id, "labelIds": list(sent.label_ids)}
