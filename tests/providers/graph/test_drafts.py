"""Outlook drafts are never logged: the emulator keeps drafts as Exchange does (in Drafts, isDraft,
internetMessageId from the start, found by /messages and by conversation, sent as a new Sent Items copy),
and the adapter never hands one to the core — on delta, thread backfill, resync or find."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.messages.item.create_reply.create_reply_post_request_body import (
    CreateReplyPostRequestBody,
)
from msgraph.generated.users.item.messages.item.reply.reply_post_request_body import ReplyPostRequestBody
from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder
from sqlalchemy.engine import Engine

from connector.mail.envelope import normalize_message_id
from connector.ports import MailboxRef
from providers.graph.adapter import GraphProvider
from tests import inspect_db as db
from tests.mailbuilder import mail
from tests.providers.graph.conftest import Seeded, graph_client, run
from tests.providers.graph.office import ALICE, CAROL, MATTER, Office, delegated_token, open_office
from tests.providers.graph.test_adapter import connect, graph_settings

DRAFT_TEXT = "DRAFT - do not file"


def recipients(*addresses: str) -> list[Recipient]:
    return [Recipient(email_address=EmailAddress(address=a)) for a in addresses]


def text(content: str) -> ItemBody:
    return ItemBody(content_type=BodyType.Text, content=content)


def conversation_query(conversation_id: str) -> RequestConfiguration:
    query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
        filter=f"conversationId eq '{conversation_id}'", select=["subject", "isDraft", "internetMessageId"])
    return RequestConfiguration(query_parameters=query)


async def save_reply_draft(client: GraphServiceClient, original_id: str) -> Message:
    """What Outlook does while Alice types a reply: a reply draft, then her edits (Bcc included)."""
    messages = client.me.messages
    draft = await messages.by_message_id(original_id).create_reply.post(CreateReplyPostRequestBody(comment=""))
    assert draft is not None and draft.id
    edited = await messages.by_message_id(draft.id).patch(Message(
        body=text(DRAFT_TEXT), bcc_recipients=recipients(MATTER)))
    assert edited is not None
    return edited


# --- the emulator ---------------------------------------------------------------------------------
def test_a_draft_is_saved_edited_and_sent_as_exchange_does(seeded: Seeded) -> None:
    token = delegated_token(seeded.urls, seeded.alice.address)
    emulator = seeded.emulator

    async def scenario() -> tuple[Message, Message, list[Message], ODataError]:
        client = graph_client(seeded.urls, token)
        draft = await client.me.messages.post(Message(subject="Engagement", body=text("first words")))
        assert draft is not None and draft.id
        edited = await client.me.messages.by_message_id(draft.id).patch(Message(
            to_recipients=recipients("bob@contoso.com"), bcc_recipients=recipients(MATTER), body=text("final")))
        listed = await client.me.messages.get()
        await client.me.messages.by_message_id(draft.id).send.post()
        with pytest.raises(ODataError) as gone:
            await client.me.messages.by_message_id(draft.id).get()
        return draft, edited, listed.value, gone.value

    draft, edited, listed, gone = run(scenario())
    assert draft.is_draft is True and draft.internet_message_id
    assert draft.parent_folder_id == emulator.world.folder(seeded.alice.id, "drafts").id
    assert [m.id for m in listed] == [draft.id]  # /messages spans every folder, Drafts included
    assert edited.internet_message_id == draft.internet_message_id and edited.body.content.strip() == "final"
    assert gone.response_status_code == 404  # sending deletes the draft ...
    [sent] = emulator.messages(seeded.alice.address, "sentitems")
    assert sent.id != draft.id and not sent.is_draft  # ... and saves a copy of its own in Sent Items
    assert sent.parsed.message_id == draft.internet_message_id and sent.parsed.bcc == [("", MATTER)]
    [received] = emulator.messages("bob@contoso.com", "inbox")
    assert received.parsed.message_id == draft.internet_message_id and received.parsed.text.strip() == "final"
    assert emulator.messages(seeded.alice.address, "drafts") == []


def test_a_reply_draft_is_in_the_conversation_but_in_no_inbox_or_sent_items_delta(seeded: Seeded) -> None:
    seeded.emulator.send(CAROL, mail(f"Carol <{CAROL}>", [seeded.alice.address], subject="Offer",
                                     message_id="<o1@clientco.com>"))
    [original] = seeded.emulator.messages(seeded.alice.address, "inbox")
    token = delegated_token(seeded.urls, seeded.alice.address)

    async def scenario() -> tuple[Message, list[Message], list[Message]]:
        client = graph_client(seeded.urls, token)
        draft = await save_reply_draft(client, original.id)
        thread = await client.me.messages.get(conversation_query(original.conversation_id))
        changes: list[Message] = []
        for folder in ("inbox", "sentitems"):
            page = await client.me.mail_folders.by_mail_folder_id(folder).messages.delta.get()
            changes += page.value
        return draft, thread.value, changes

    draft, thread, changes = run(scenario())
    assert draft.is_draft and draft.subject == "RE: Offer" and draft.conversation_id == original.conversation_id
    assert [r.email_address.address for r in draft.bcc_recipients] == [MATTER]
    assert sorted((m.subject, m.is_draft) for m in thread) == [("Offer", False), ("RE: Offer", True)]
    assert [m.internet_message_id for m in changes] == ["<o1@clientco.com>"]


# --- the adapter ------------------------------------------------------------------------------------
@pytest.fixture
def provider(seeded: Seeded) -> GraphProvider:
    return GraphProvider(graph_settings(seeded), clock=lambda: datetime.now(UTC))


def test_the_adapter_never_hands_a_draft_to_the_core(provider: GraphProvider, seeded: Seeded) -> None:
    ref: MailboxRef = connect(provider, seeded, seeded.alice.address)
    cursor = provider.start_cursor(ref)
    seeded.emulator.send(CAROL, mail(f"Carol <{CAROL}>", [seeded.alice.address], subject="Offer",
                                     message_id="<o2@clientco.com>"))
    [original] = seeded.emulator.messages(seeded.alice.address, "inbox")
    token = delegated_token(seeded.urls, seeded.alice.address)
    draft = run(save_reply_draft(graph_client(seeded.urls, token), original.id))

    page = provider.read_changes(ref, cursor)
    assert [e.internet_message_id for e in page.envelopes] == ["<o2@clientco.com>"]
    [carol] = page.envelopes
    assert provider.thread(ref, carol) == []  # the draft shares the conversation: left out
    recent = provider.recent(ref, since=datetime.now(UTC) - timedelta(hours=1))
    assert [e.internet_message_id for e in recent.envelopes] == ["<o2@clientco.com>"]
    assert provider.find(ref, str(draft.internet_message_id)) is None
    listed = [m for m in seeded.emulator.messages(seeded.alice.address) if m.is_draft]
    assert [m.id for m in listed] == [draft.id]  # it is there, in Drafts, all along


# --- the story ----------------------------------------------------------------------------------------
@pytest.fixture
def office(engine: Engine) -> Iterator[Office]:
    with open_office(engine) as found:
        yield found


def test_an_unsent_reply_draft_is_never_filed_while_the_sent_reply_and_the_thread_are(office: Office) -> None:
    carol_id = office.send(CAROL, mail(f"Carol <{CAROL}>", [ALICE], subject="Smith v. Jones: offer",
                                       message_id="<offer1@clientco.com>"))
    office.settle()  # received in a thread nobody logged: not filed (yet)
    assert db.logged(office.engine, carol_id) is None
    [original] = office.emulator.messages(ALICE, "inbox")

    async def alice_answers(client: GraphServiceClient) -> Message:
        draft = await save_reply_draft(client, original.id)
        await client.me.messages.by_message_id(original.id).reply.post(ReplyPostRequestBody(
            comment="We accept; details follow.", message=Message(bcc_recipients=recipients(MATTER))))
        return draft

    draft = office.as_alice(alice_answers)
    office.settle()
    [sent] = office.emulator.messages(ALICE, "sentitems")
    reply = db.logged(office.engine, normalize_message_id(sent.parsed.message_id))
    assert reply is not None and reply.filed_under == {"matter:10802"} and reply.activity.direction == "sent"
    carol = db.logged(office.engine, carol_id)
    assert carol is not None and "matter:10802" in carol.filed_under  # the thread backfill found it
    draft_id = normalize_message_id(str(draft.internet_message_id))
    assert db.logged(office.engine, draft_id) is None
    assert office.audited(draft_id) == []  # not even refused as mail "received" from Alice herself
    assert not any(DRAFT_TEXT in text for text in office.texts())
    assert len(office.texts()) == 2
