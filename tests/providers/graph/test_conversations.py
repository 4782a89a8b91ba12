"""Outlook conversations as Exchange builds them: conversationId follows the subject topic ([MS-OXOMSG] 2.2.1.2),
conversationIndex is Outlook's Thread-Index (22-byte root + 5 bytes per reply, 2.2.1.3). The emulator does so by
default; the adapter files by In-Reply-To/References, Message-ID look-ups and the index root, never by the topic."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from msgraph import GraphServiceClient
from msgraph.generated.models.message import Message
from msgraph.generated.users.item.messages.item.reply.reply_post_request_body import ReplyPostRequestBody
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from sqlalchemy.engine import Engine

from connector.mail.envelope import Envelope, Source, normalize_message_id
from emulators.graph.state import StoredMessage
from providers.graph.adapter import GraphProvider
from providers.graph.mapping import conversation_of, linked, thread_key
from tests import inspect_db as db
from tests.mailbuilder import mail
from tests.providers.graph.conftest import Seeded
from tests.providers.graph.office import ALICE, CAROL, MATTER, Office, open_office
from tests.providers.graph.test_adapter import connect, graph_settings
from tests.providers.graph.test_drafts import recipients, text

DAVE, ERIN = "dave@otherco.com", "erin@thirdco.com"


def index(message: StoredMessage) -> bytes:
    return base64.b64decode(message.conversation_index)


def one(messages: list[StoredMessage], message_id: str) -> StoredMessage:
    [found] = [m for m in messages if normalize_message_id(m.parsed.message_id) == normalize_message_id(message_id)]
    return found


# --- the emulator and the adapter -------------------------------------------------------------------
def test_same_subject_shares_a_conversation_an_edited_subject_does_not_and_thread_keeps_only_linked_mail(
        seeded: Seeded) -> None:
    provider = GraphProvider(graph_settings(seeded), clock=lambda: datetime.now(UTC))
    alice = seeded.alice.address
    ref = connect(provider, seeded, alice)
    cursor = provider.start_cursor(ref)
    seeded.emulator.send(alice, mail(alice, [CAROL], bcc=[MATTER], subject="Invoice", message_id="<i1@contoso.com>"))
    seeded.emulator.send(CAROL, mail(CAROL, [alice], subject="Re: Invoice", message_id="<i2@clientco.com>",
                                     in_reply_to="<i1@contoso.com>", references=["<i1@contoso.com>"]))
    seeded.emulator.send(DAVE, mail(DAVE, [alice], subject="INVOICE", message_id="<x1@otherco.com>"))
    seeded.emulator.send(CAROL, mail(CAROL, [alice], subject="AW: Invoice — corrected", message_id="<i3@clientco.com>",
                                     in_reply_to="<i2@clientco.com>", references=["<i1@contoso.com>",
                                                                                   "<i2@clientco.com>"]))
    by_id = {e.internet_message_id: e for e in provider.read_changes(ref, cursor).envelopes}
    sent, reply, stranger, corrected = (by_id[i] for i in ("<i1@contoso.com>", "<i2@clientco.com>",
                                                            "<x1@otherco.com>", "<i3@clientco.com>"))
    assert conversation_of(sent) == conversation_of(reply) == conversation_of(stranger)  # one topic, one id
    assert conversation_of(corrected) != conversation_of(sent)  # the edited subject is another conversation
    assert len({sent.thread_key, reply.thread_key, stranger.thread_key}) == 3  # each arrived with its own root
    assert [e.internet_message_id for e in provider.thread(ref, sent)] == ["<i2@clientco.com>"]  # not Dave's
    inbox = seeded.emulator.messages(alice, "inbox")
    assert all(len(index(m)) == 22 and index(m)[0] == 1 for m in inbox)  # no Thread-Index: a fresh root each


def test_an_outlook_reply_extends_the_index_of_what_it_answers(seeded: Seeded) -> None:
    from tests.providers.graph.conftest import graph_client, run
    from tests.providers.graph.office import delegated_token

    alice = seeded.alice.address
    seeded.emulator.send(CAROL, mail(CAROL, [alice], subject="Invoice", message_id="<o1@clientco.com>"))
    [original] = seeded.emulator.messages(alice, "inbox")
    client = graph_client(seeded.urls, delegated_token(seeded.urls, alice))
    run(client.me.messages.by_message_id(original.id).reply.post(ReplyPostRequestBody(comment="Corrected.")))
    [sent] = seeded.emulator.messages(alice, "sentitems")
    assert index(sent)[:-5] == index(original) and len(index(sent)) == 27  # ScCreateConversationIndex: + 5 bytes
    assert sent.conversation_id == original.conversation_id  # "RE: Invoice": the same topic


def test_linked_keeps_members_chained_by_message_id_or_index_root_and_drops_same_topic_strangers() -> None:
    def envelope(pid: str, imid: str, root: str, *related: str) -> Envelope:
        return Envelope(source=Source.GRAPH, internet_message_id=imid, subject="Invoice", mailbox=ALICE,
                        provider_message_id=pid, thread_key=thread_key(ALICE, "AAQkADconv", root),
                        in_reply_to=related[:1], references=related)

    opening = envelope("p1", "<a@x>", "R1")
    chained = [envelope("p2", "<b@x>", "R2", "<a@x>"), envelope("p3", "<c@x>", "R3", "<b@x>"),  # a chain of replies
               envelope("p4", "<d@x>", "R1"), envelope("p5", "<e@x>", "R9")]  # same Outlook root; a stranger
    assert [e.provider_message_id for e in linked(opening, [*chained, opening])] == ["p2", "p3", "p4"]


# --- the stories --------------------------------------------------------------------------------------
@pytest.fixture
def office(engine: Engine) -> Iterator[Office]:
    with open_office(engine) as found:
        yield found


async def alice_sends_invoice(client: GraphServiceClient) -> None:
    await client.me.send_mail.post(SendMailPostRequestBody(message=Message(
        subject="Invoice", body=text("Please find our invoice."), to_recipients=recipients(CAROL),
        bcc_recipients=recipients(MATTER)), save_to_sent_items=True))


def test_an_unrelated_mail_with_the_same_subject_as_a_logged_thread_is_not_filed(office: Office) -> None:
    dave = office.send(DAVE, mail(f"Dave <{DAVE}>", [ALICE], subject="Invoice", message_id="<inv@otherco.com>"))
    office.settle()
    office.as_alice(alice_sends_invoice)  # opens the thread; the backfill lists the conversation, Dave's included
    office.settle()
    [sent] = office.emulator.messages(ALICE, "sentitems")
    carol = office.send(CAROL, mail(f"Carol <{CAROL}>", [ALICE], subject="RE: Invoice", message_id="<r1@clientco.com>",
                                    in_reply_to=sent.parsed.message_id, references=[sent.parsed.message_id]))
    erin = office.send(ERIN, mail(f"Erin <{ERIN}>", [ALICE], subject="Re: invoice", message_id="<inv@thirdco.com>"))
    office.settle()
    stored = office.emulator.messages(ALICE, "inbox")
    assert one(stored, dave).conversation_id == one(stored, erin).conversation_id == sent.conversation_id
    logged = db.logged(office.engine, normalize_message_id(sent.parsed.message_id))
    assert logged is not None and logged.filed_under == {"matter:10802"}
    reply = db.logged(office.engine, carol)
    assert reply is not None and reply.filed_under == {"matter:10802"}
    assert db.logged(office.engine, dave) is None and db.logged(office.engine, erin) is None
    downloads = [r.path for r in office.emulator.request_log() if r.path.endswith("/$value")]
    assert len(downloads) == 2  # the strangers' mail is not even downloaded


def test_a_reply_with_an_edited_subject_to_a_logged_message_is_filed(office: Office) -> None:
    office.as_alice(alice_sends_invoice)
    office.settle()
    [sent] = office.emulator.messages(ALICE, "sentitems")
    corrected = office.send(CAROL, mail(f"Carol <{CAROL}>", [ALICE], subject="Re: Invoice — corrected",
                                        message_id="<fix@clientco.com>", in_reply_to=sent.parsed.message_id,
                                        references=[sent.parsed.message_id]))
    office.settle()
    [received] = office.emulator.messages(ALICE, "inbox")
    assert received.conversation_id != sent.conversation_id  # Exchange: a new topic, a new conversation
    filed = db.logged(office.engine, corrected)
    assert filed is not None and filed.filed_under == {"matter:10802"}

    async def alice_answers(client: GraphServiceClient) -> None:  # from Outlook, no Bcc: in the thread all the same
        await client.me.messages.by_message_id(received.id).reply.post(ReplyPostRequestBody(comment="Thanks."))

    office.as_alice(alice_answers)
    office.settle()
    answer = next(m for m in office.emulator.messages(ALICE, "sentitems") if m.id != sent.id)
    logged = db.logged(office.engine, normalize_message_id(answer.parsed.message_id))
    assert logged is not None and logged.filed_under == {"matter:10802"} and logged.activity.direction == "sent"


def test_an_edited_subject_reply_read_in_the_same_delta_as_the_bcc_it_answers_is_filed(office: Office) -> None:
    """Carol's corrected reply (a new Outlook conversation, a root-only conversationIndex) comes in the same round
    as Alice's Bcc: judged before the Bcc is filed, it names nothing logged, so it is parked, and the Bcc's filing
    brings it back."""
    office.as_alice(alice_sends_invoice)
    [sent] = office.emulator.messages(ALICE, "sentitems")
    corrected = office.send(CAROL, mail(f"Carol <{CAROL}>", [ALICE], subject="Re: Invoice — corrected",
                                        message_id="<fix2@clientco.com>", in_reply_to=sent.parsed.message_id,
                                        references=[sent.parsed.message_id]))
    office.settle()
    opening = db.logged(office.engine, normalize_message_id(sent.parsed.message_id))
    filed = db.logged(office.engine, corrected)
    assert opening is not None and filed is not None and filed.filed_under == {"matter:10802"}
    assert filed.activity.thread_id == opening.activity.thread_id
