"""Drafts: create (``POST …/messages``), edit (``PATCH``), send (``POST …/send``) and reply drafts
(``createReply``, ``createReplyAll``, ``createForward``).

As on Exchange Online:

* a draft is an item in Drafts with ``isDraft: true``; it has an ``internetMessageId`` from the start
  and keeps it when sent (msgraph-sdk-dotnet#2947 and office-js#6066 look sent mail up by the draft's
  one), and it has no internet headers (nothing was transmitted);
* ``/messages`` spans every folder, Drafts included, and ``$filter=conversationId eq …`` finds a reply
  draft in its conversation (it carries In-Reply-To/References) — only the per-folder delta of Inbox
  or Sent Items never shows it;
* sending deletes the draft and saves a separate copy, with an id of its own, in Sent Items: "when a
  message in the drafts folder is sent … a separate copy of the message is created in the Sent Items
  folder" (angelgolfer-ms, Microsoft, microsoftgraph/microsoft-graph-docs#6250);
* only a draft's recipients, subject, body… can be edited; on other messages PATCH keeps to isRead and
  categories (`MailApi.update_message`).
"""

from __future__ import annotations

from functools import partial

from emulators.clock import Clock

from . import conversations, mime
from .mail import MailApi, action_parameters, compose_error, json_body
from .render import message_context, message_json
from .responses import response_outgoing
from .router import Call, RouteSpec, route
from .state import StoredMessage, User, World
from .wire import GraphResponse, graph_error, not_found

DRAFT_ACTIONS = {"createReply": "reply", "createReplyAll": "replyAll", "createForward": "forward"}


def outgoing_of(message: StoredMessage, user: User) -> mime.Outgoing:
    """A stored draft back as an editable message (its Message-ID and thread headers kept)."""
    parsed = message.parsed
    return mime.Outgoing(
        sender=parsed.from_ or (user.display_name, user.address), subject=parsed.subject, to=list(parsed.to),
        cc=list(parsed.cc), bcc=list(parsed.bcc), reply_to=list(parsed.reply_to), body_type=parsed.body_type,
        body=parsed.body, importance=parsed.importance, in_reply_to=list(parsed.in_reply_to),
        references=list(parsed.references), attachments=list(parsed.attachments), message_id=parsed.message_id,
        headers=[(k, v) for k, v in parsed.headers if k.lower().startswith("x-") or k.lower() == "thread-index"],
    )


class DraftsApi:
    def __init__(self, world: World, mail: MailApi, clock: Clock) -> None:
        self.world, self.mail, self.clock = world, mail, clock

    def routes(self) -> list[RouteSpec]:
        m = "/{user}/messages/{message}"
        fm = "/{user}/mailFolders/{folder}/messages/{message}"
        return [
            route("POST", "/{user}/messages", self.create, "write"),
            route("POST", "/{user}/mailFolders/{folder}/messages", self.create, "write"),
            *[spec for base in (m, fm) for spec in (
                route("PATCH", base, self.update, "write"),
                route("POST", base + "/send", self.send, "send"),
                *[route("POST", f"{base}/{action}", partial(self.create_response, kind=kind), "write")
                  for action, kind in DRAFT_ACTIONS.items()],
            )],
        ]

    def _created(self, call: Call, draft: StoredMessage) -> GraphResponse:
        assert call.user is not None
        context = message_context(call.req.root, call.user, None, entity=True)
        return GraphResponse(201, message_json(self.world, draft, None, None, context=context))

    def _save(self, user: User, out: mime.Outgoing, folder: str = "drafts") -> StoredMessage:
        raw = mime.compose(out, self.clock.now(), draft=True)
        return self.world.store(user, folder, raw, self.clock.now(), is_read=True, is_draft=True)

    def create(self, call: Call) -> GraphResponse:
        assert call.user is not None
        folder = self.world.folder(call.user.id, call.params.get("folder", "drafts"))
        if folder is None:
            return not_found()
        out = mime.Outgoing(sender=(call.user.display_name, call.user.address))
        out.headers.append(("Thread-Index", conversations.new_index(self.clock.now())))
        try:
            out.apply_graph_message(json_body(call.req))
            draft = self._save(call.user, out, folder.id)
        except mime.ComposeError as err:
            return compose_error(err)
        return self._created(call, draft)

    def create_response(self, call: Call, kind: str) -> GraphResponse:
        original = self.mail.message_of(call)
        if original is None:
            return not_found()
        assert call.user is not None
        try:
            out = response_outgoing(call.user, original.parsed, kind, action_parameters(call.req))
            index = conversations.child_index(original.conversation_index, self.clock.now())  # Outlook: parent + 5
            out.headers.append(("Thread-Index", index))
            draft = self._save(call.user, out)
        except mime.ComposeError as err:
            return compose_error(err)
        return self._created(call, draft)

    def update(self, call: Call) -> GraphResponse:
        message = self.mail.message_of(call)
        if message is None or not message.is_draft:
            return self.mail.update_message(call)
        assert call.user is not None
        data = json_body(call.req)
        out = outgoing_of(message, call.user)
        try:
            out.apply_graph_message(data)
            raw = mime.compose(out, self.clock.now(), draft=True)
        except mime.ComposeError as err:
            return compose_error(err)
        self.world.replace_content(message.id, raw)
        if "categories" in data and isinstance(data["categories"], list):
            self.world.update(message.id, categories=data["categories"])
        context = message_context(call.req.root, call.user, None, entity=True)
        return GraphResponse(200, message_json(self.world, message, None, None, context=context))

    def send(self, call: Call) -> GraphResponse:
        message = self.mail.message_of(call)
        if message is None:
            return not_found()
        assert call.user is not None
        if not message.is_draft:
            return graph_error(400, "ErrorInvalidOperation", "Only a draft message can be sent.")
        try:  # Exchange dates the message when it leaves, not when the draft was saved
            raw = mime.compose(outgoing_of(message, call.user), self.clock.now())
        except mime.ComposeError as err:
            return compose_error(err)
        self.world.delete(message.id, permanently=True)
        self.mail.send_raw(call.user, raw, True)
        return GraphResponse(202)
