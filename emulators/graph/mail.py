"""Users, mail folders, messages, attachments, MIME ``$value``, sendMail, reply, replyAll, forward.

Sending goes through the shared `PostOffice` as RFC 5322 bytes; what the post office delivers back
to Graph-owned mailboxes (the sender's copy with Bcc, recipients' copies without) becomes Graph
messages in ``sentitems``/``inbox`` via `MailApi.accept_delivery`.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable
from email.utils import formataddr
from typing import Any
from urllib.parse import urlencode

from emulators.clock import Clock
from emulators.postoffice import Delivery, PostOffice

from . import conversations, mime
from .directory import filter_users
from .odata import QueryError, matches_any, parse_expand, parse_filter_any, parse_int, parse_orderby, parse_select
from .render import (
    attachment_json,
    message_context,
    message_json,
    user_json,
)
from .responses import response_outgoing
from .router import Call, RouteSpec, route
from .state import StoredMessage, User, World
from .wire import GraphRequest, GraphResponse, bad_request, graph_error, not_found, odata_key


def json_body(req: GraphRequest) -> dict[str, Any]:
    if not req.body:
        return {}
    try:
        data = json.loads(req.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise QueryError("BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                         "header is set and payload is of valid JSON format.") from exc
    if not isinstance(data, dict):
        raise QueryError("BadRequest", "Request payload must be a JSON object.")
    return data


def action_parameters(req: GraphRequest) -> dict[str, Any]:
    """Action parameters are matched case-insensitively (msgraph-sdk sends ``Message``, ``Comment``…)."""
    return {str(k).lower(): v for k, v in json_body(req).items()}


def body_preference(req: GraphRequest) -> str | None:
    value = req.prefer().get("outlook.body-content-type", "").lower()
    return value if value in ("text", "html") else None


def _filter_values(message: StoredMessage) -> dict[str, Any]:
    parsed = message.parsed
    return {
        "conversationid": message.conversation_id, "internetmessageid": parsed.message_id,
        "subject": parsed.subject, "parentfolderid": message.folder_id,
        "receiveddatetime": message.received, "sentdatetime": parsed.sent_at or message.received,
        "createddatetime": message.created, "lastmodifieddatetime": message.last_modified,
        "isread": message.is_read, "isdraft": message.is_draft,
        "hasattachments": any(not a.is_inline for a in parsed.attachments),
        "from/emailaddress/address": parsed.from_[1] if parsed.from_ else None,
    }


class MailApi:
    def __init__(self, world: World, post_office: PostOffice, clock: Clock) -> None:
        self.world, self.post_office, self.clock = world, post_office, clock
        self._lock = threading.Lock()
        self._unsaved: set[str] = set()  # Message-IDs sent with saveToSentItems=false
        # Where delivered mail lands and whether it is read: the Inbox rules plug in here (`rules.RulesApi`).
        self.arrival: Callable[[User, mime.Parsed], tuple[str, bool]] = lambda user, parsed: ("inbox", False)

    def routes(self) -> list[RouteSpec]:
        m = "/{user}/messages/{message}"
        fm = "/{user}/mailFolders/{folder}/messages/{message}"
        return [
            route("GET", "/users", self.list_users),
            route("GET", "/{user}", self.get_user),
            route("GET", "/{user}/mailFolders/{folder}/messages", self.list_messages, "read"),
            route("GET", "/{user}/messages", self.list_messages, "read"),
            route("POST", "/{user}/sendMail", self.send_mail, "send"),
            *[spec for base in (m, fm) for spec in (
                route("GET", base, self.get_message, "read"),
                route("PATCH", base, self.update_message, "write"),
                route("DELETE", base, self.delete_message, "write"),
                route("GET", base + "/$value", self.get_mime, "read"),
                route("GET", base + "/attachments", self.list_attachments, "read"),
                route("GET", base + "/attachments/{attachment}", self.get_attachment, "read"),
                route("GET", base + "/attachments/{attachment}/$value", self.get_attachment_value, "read"),
                route("POST", base + "/reply", self.reply, "send"),
                route("POST", base + "/replyAll", self.reply_all, "send"),
                route("POST", base + "/forward", self.forward, "send"),
                route("POST", base + "/move", self.move, "write"),
            )],
        ]

    # --- post office side ------------------------------------------------------------------------
    def accept_delivery(self, delivery: Delivery) -> None:
        user = self.world.user(delivery.mailbox)
        if user is None:
            return
        if delivery.folder == "sent":
            with self._lock:
                if delivery.internet_message_id in self._unsaved:
                    self._unsaved.discard(delivery.internet_message_id)
                    return
            self.world.store(user, "sentitems", delivery.raw, self.clock.now(), is_read=True)
        else:  # the Inbox rules decide where it is created (see `rules`)
            folder, is_read = self.arrival(user, mime.parse(delivery.raw))
            self.world.store(user, folder, delivery.raw, self.clock.now(), is_read=is_read, internet_headers=True)

    def send_raw(self, user: User, raw: bytes, save: bool) -> None:
        message_id = mime.parse(raw).message_id
        if not save:
            with self._lock:
                self._unsaved.add(message_id)
        self.post_office.send(user.address, raw)

    # --- users and folders ---------------------------------------------------------------------------
    def list_users(self, call: Call) -> GraphResponse:
        users = sorted(filter_users((u for u in self.world.users.values() if u.tenant_id == call.principal.tenant_id),
                                    call.req.query.get("$filter")), key=lambda u: u.address)
        top = parse_int(call.req.query.get("$top"), 100, "$top", 999)
        return GraphResponse(200, {"@odata.context": f"{call.req.root}/$metadata#users",
                                   "value": [user_json(u, call.req.root, context=False) for u in users[:top]]})

    def get_user(self, call: Call) -> GraphResponse:
        assert call.user is not None
        return GraphResponse(200, user_json(call.user, call.req.root))

    # --- messages ----------------------------------------------------------------------------------
    def message_of(self, call: Call) -> StoredMessage | None:
        assert call.user is not None
        message = self.world.message(call.params["message"])
        if message is None or message.user_id != call.user.id:
            return None
        if "folder" in call.params:
            folder = self.world.folder(call.user.id, call.params["folder"])
            if folder is None or folder.id != message.folder_id:
                return None
        return message

    def list_messages(self, call: Call) -> GraphResponse:
        assert call.user is not None
        req = call.req
        folder_id = None
        if "folder" in call.params:
            folder = self.world.folder(call.user.id, call.params["folder"])
            if folder is None:
                return not_found()
            folder_id = folder.id
        select = parse_select(req.query.get("$select"))
        expand = parse_expand(req.query.get("$expand"))
        alternatives = parse_filter_any(req.query.get("$filter"))
        newest_first = parse_orderby(req.query.get("$orderby"), alternatives)
        top = parse_int(req.query.get("$top"), 10, "$top")
        skip = parse_int(req.query.get("$skip"), 0, "$skip", 10**9)
        found = [m for m in self.world.mailbox_messages(call.user.id, folder_id)
                 if matches_any(alternatives, _filter_values(m))]
        if not newest_first:
            found.reverse()
        page = found[skip:skip + top]
        preference = body_preference(req)
        body: dict[str, Any] = {
            "@odata.context": message_context(req.root, call.user, select, entity=False),
            "value": [message_json(self.world, m, select, preference, expand=expand) for m in page],
        }
        if skip + top < len(found):
            query = {k: v for k, v in req.query.items() if k != "$skip"}
            query["$skip"] = str(skip + top)
            body["@odata.nextLink"] = f"{req.root}{req.path}?{urlencode(query)}"
        return GraphResponse(200, body, _applied(preference))

    def get_message(self, call: Call) -> GraphResponse:
        message = self.message_of(call)
        if message is None:
            return not_found()
        assert call.user is not None
        select = parse_select(call.req.query.get("$select"))
        expand = parse_expand(call.req.query.get("$expand"))
        preference = body_preference(call.req)
        context = message_context(call.req.root, call.user, select, entity=True)
        return GraphResponse(200, message_json(self.world, message, select, preference, context=context,
                                               expand=expand), _applied(preference))

    def update_message(self, call: Call) -> GraphResponse:
        message = self.message_of(call)
        if message is None:
            return not_found()
        data = json_body(call.req)
        is_read = data.get("isRead")
        categories = data.get("categories")
        updated = self.world.update(message.id, is_read=bool(is_read) if is_read is not None else None,
                                    categories=categories if isinstance(categories, list) else None)
        assert updated is not None and call.user is not None
        context = message_context(call.req.root, call.user, None, entity=True)
        return GraphResponse(200, message_json(self.world, updated, None, None, context=context))

    def delete_message(self, call: Call) -> GraphResponse:
        message = self.message_of(call)
        if message is None:
            return not_found()
        self.world.delete(message.id)
        return GraphResponse(204)

    def move(self, call: Call) -> GraphResponse:
        message = self.message_of(call)
        if message is None:
            return not_found()
        assert call.user is not None
        target = self.world.folder(call.user.id, str(action_parameters(call.req).get("destinationid", "")))
        if target is None:
            return graph_error(400, "ErrorInvalidIdMalformed", "Id is malformed.")
        moved = self.world.move(message.id, target)
        assert moved is not None
        context = message_context(call.req.root, call.user, None, entity=True)
        return GraphResponse(201, message_json(self.world, moved, None, None, context=context))

    def get_mime(self, call: Call) -> GraphResponse:
        message = self.message_of(call)
        if message is None:
            return not_found()
        return GraphResponse(200, message.raw, content_type="text/plain")

    # --- attachments ---------------------------------------------------------------------------------
    def list_attachments(self, call: Call) -> GraphResponse:
        message = self.message_of(call)
        if message is None:
            return not_found()
        assert call.user is not None
        expand = "itemattachment/item" in call.req.query.get("$expand", "").lower()
        context = (f"{call.req.root}/$metadata#users('{odata_key(call.user.id)}')/messages"
                   f"('{odata_key(message.id)}')/attachments")
        values = [attachment_json(message, i, expand) for i in range(len(message.parsed.attachments))]
        return GraphResponse(200, {"@odata.context": context, "value": values})

    def _attachment_index(self, call: Call) -> tuple[StoredMessage, int] | None:
        message = self.message_of(call)
        if message is None or call.params["attachment"] not in message.attachment_ids:
            return None
        return message, message.attachment_ids.index(call.params["attachment"])

    def get_attachment(self, call: Call) -> GraphResponse:
        found = self._attachment_index(call)
        if found is None:
            return not_found()
        message, index = found
        assert call.user is not None
        expand = "itemattachment/item" in call.req.query.get("$expand", "").lower()
        context = (f"{call.req.root}/$metadata#users('{odata_key(call.user.id)}')/messages"
                   f"('{odata_key(message.id)}')/attachments/$entity")
        return GraphResponse(200, {"@odata.context": context, **attachment_json(message, index, expand)})

    def get_attachment_value(self, call: Call) -> GraphResponse:
        found = self._attachment_index(call)
        if found is None:
            return not_found()
        message, index = found
        att = message.parsed.attachments[index]
        return GraphResponse(200, att.content, content_type="text/plain" if att.is_item else att.content_type)

    # --- sending -----------------------------------------------------------------------------------
    def send_mail(self, call: Call) -> GraphResponse:
        assert call.user is not None
        user, req = call.user, call.req
        if req.header("content-type").lower().startswith("text/plain"):
            return self._send_mime(user, req.body)
        data = action_parameters(req)
        message = data.get("message")
        if not isinstance(message, dict):
            return bad_request("Empty Payload. JSON content expected.", "ErrorInvalidRequest")
        try:
            author = self._author(user, message.get("from"))
        except mime.ComposeError as err:
            return compose_error(err)
        if isinstance(author, GraphResponse):
            return author
        out = mime.Outgoing(sender=author[0])
        if author[1] is not None:  # sent on the From's behalf: RFC 5322's Sender names who did
            out.headers.append(("Sender", formataddr(author[1])))
        out.headers.append(("Thread-Index", conversations.new_index(self.clock.now())))  # Outlook starts a thread
        try:
            out.apply_graph_message(message)
            raw = mime.compose(out, self.clock.now())
        except mime.ComposeError as err:
            return compose_error(err)
        self.send_raw(user, raw, data.get("savetosentitems", True) is not False)
        return GraphResponse(202)

    def _author(self, user: User, given: Any) -> tuple[mime.Recipient, mime.Recipient | None] | GraphResponse:
        """(From, Sender) of a message ``user`` sends: herself (no Sender); a mailbox she has Send As on (no
        Sender); or one she has Send on Behalf on, with herself as Sender.

        learn.microsoft.com/graph/outlook-send-mail-from-other-user: the client sets ``from`` only and Graph sets
        ``sender`` "based on the mailbox permissions granted": with Send As "the sender and from properties have
        the same value"; with Send on Behalf ``sender`` is "the user that actually sent the message" and ``from``
        the mailbox it appears to be from (learn.microsoft.com/graph/api/resources/message: ``from`` "the owner
        of the mailbox from which the message is sent", ``sender`` "the account that is actually used to generate
        the message"; in MIME, RFC 5322 section 3.6.2's Sender). Holding both rights she sends as the mailbox:
        Send As is the stronger one and leaves no trace of her. Either way the copy is saved in her own Sent
        Items: "by default, when an assistant sends mail as, or on behalf of, a manager, the sent message is
        stored in the assistant's Sent Items folder" (MessageCopyForSentAsEnabled and
        MessageCopyForSendOnBehalfEnabled off, learn.microsoft.com/exchange/recipients-in-exchange-online/
        manage-user-mailboxes/automatically-save-sent-items-in-delegator-s-mailbox). Without either right
        Exchange refuses with ErrorSendAsDenied.
        """
        found = mime.graph_recipients([given], "from") if isinstance(given, dict) else []
        herself = (user.display_name, user.address)
        if not found or found[0][1].lower() in (user.address, *user.aliases):
            return herself, None
        owner = self.world.user(found[0][1])
        if owner is None or user.id not in owner.send_as | owner.send_on_behalf:
            return graph_error(403, "ErrorSendAsDenied", "The user account which was used to submit this request "
                               "does not have the right to send mail on behalf of the specified sending account., "
                               "Cannot submit message.")
        author = (found[0][0] or owner.display_name, owner.address)
        return author, (None if user.id in owner.send_as else herself)

    def _send_mime(self, user: User, body: bytes) -> GraphResponse:
        try:
            raw = base64.b64decode(body, validate=False)
        except (binascii.Error, ValueError):
            return bad_request("Invalid base64 string for MIME content.", "ErrorMimeContentInvalidBase64String")
        parsed = mime.parse(raw)
        if not (parsed.to or parsed.cc or parsed.bcc):
            return graph_error(400, "ErrorInvalidRecipients", "At least one recipient isn't valid., A message "
                               "can't be sent because it contains no recipients.")
        if parsed.from_ is None:
            raw = f"From: {user.display_name} <{user.address}>\r\n".encode() + raw
        if not parsed.message_id:  # Exchange names it, in its own form (see mime.exchange_message_id)
            raw = f"Message-ID: {mime.exchange_message_id()}\r\n".encode() + raw
        self.send_raw(user, raw, True)
        return GraphResponse(202)

    def reply(self, call: Call) -> GraphResponse:
        return self._respond(call, "reply")

    def reply_all(self, call: Call) -> GraphResponse:
        return self._respond(call, "replyAll")

    def forward(self, call: Call) -> GraphResponse:
        return self._respond(call, "forward")

    def _respond(self, call: Call, kind: str) -> GraphResponse:
        message = self.message_of(call)
        if message is None:
            return not_found()
        assert call.user is not None
        try:
            out = response_outgoing(call.user, message.parsed, kind, action_parameters(call.req))
            index = conversations.child_index(message.conversation_index, self.clock.now())  # Outlook: parent + 5
            out.headers.append(("Thread-Index", index))
            raw = mime.compose(out, self.clock.now())
        except mime.ComposeError as err:
            return compose_error(err)
        self.send_raw(call.user, raw, True)
        return GraphResponse(202)


def compose_error(err: mime.ComposeError) -> GraphResponse:
    code = "ErrorInvalidRecipients" if "recipient" in str(err).lower() else "ErrorInvalidRequest"
    return graph_error(400, code, str(err))


def _applied(preference: str | None) -> dict[str, str]:
    return {"Preference-Applied": f'outlook.body-content-type="{preference}"'} if preference else {}
