"""Mail lands in more folders than the Inbox: Inbox rules file it into user folders before anyone reads it,
people archive it. Every such folder is read, Drafts, Deleted Items and Junk never are, and a wake-up costs
one request per 20 folders, counted from the Graph emulator's own request log."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from msgraph import GraphServiceClient
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.mail_folder import MailFolder
from msgraph.generated.models.message import Message
from msgraph.generated.models.message_rule import MessageRule
from msgraph.generated.models.message_rule_actions import MessageRuleActions
from msgraph.generated.models.message_rule_predicates import MessageRulePredicates
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.messages.item.move.move_post_request_body import MovePostRequestBody
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from sqlalchemy.engine import Engine

from connector.mail.envelope import normalize_message_id
from connector.models import Activity
from providers.graph import deltas
from providers.graph.adapter import GraphProvider
from tests import inspect_db as db
from tests.mailbuilder import mail
from tests.providers.graph.conftest import Seeded, graph_client, run
from tests.providers.graph.office import ALICE, CAROL, CLIENT_SCOPES, MATTER, Office, delegated_token, open_office
from tests.providers.graph.test_adapter import connect, graph_settings

ALICE_C = "alice@contoso.com"


@pytest.fixture
def provider(seeded: Seeded) -> GraphProvider:
    return GraphProvider(graph_settings(seeded), clock=lambda: datetime.now(UTC))


def _delta_requests(seeded: Seeded) -> list[str]:
    return [r.path for r in seeded.emulator.request_log() if r.endpoint.endswith("/messages/delta")]


# --- the adapter -----------------------------------------------------------------------------------------
def test_a_wake_up_costs_one_request_per_20_folders_in_a_mailbox_with_300(provider: GraphProvider,
                                                                          seeded: Seeded) -> None:
    for n in range(300):
        seeded.emulator.add_folder(ALICE_C, f"Client {n:03d}")
    ref = connect(provider, seeded, ALICE_C)
    cursor = provider.start_cursor(ref)
    followed = json.loads(cursor)["links"]
    assert len(followed) == 303  # Sent Items, Inbox, Archive and the 300 folders
    seeded.emulator.clear_request_log()

    seeded.emulator.send("carol@fabrikam.com", mail("carol@fabrikam.com", [ALICE_C], message_id="<w1@fabrikam.com>"))
    page = provider.read_changes(ref, cursor)

    requests = [r for r in seeded.emulator.request_log() if not r.in_batch]
    assert [e.internet_message_id for e in page.envelopes] == ["<w1@fabrikam.com>"]
    assert len(requests) == math.ceil(303 / 20) == 16 and {r.endpoint for r in requests} == {"POST /$batch"}
    print(f"\nwake-up of a mailbox with 303 followed folders: {len(requests)} requests, cursor {len(cursor)} bytes")


def test_drafts_deleted_items_and_junk_are_never_read(provider: GraphProvider, seeded: Seeded) -> None:
    ref = connect(provider, seeded, ALICE_C)
    cursor = provider.start_cursor(ref)
    seeded.emulator.send("spam@example.net", mail("spam@example.net", [ALICE_C], message_id="<junk@example.net>"))
    [spam] = seeded.emulator.messages(ALICE_C, "inbox")
    seeded.emulator.move_message(spam.id, "junkemail")
    page = provider.read_changes(ref, cursor)

    assert page.envelopes == [] and list(page.removed) == [spam.id]  # out of the Inbox; Junk is not read
    world, user = seeded.emulator.world, seeded.alice
    never = [world.folder(user.id, name) for name in ("drafts", "deleteditems", "junkemail")]
    asked = _delta_requests(seeded)
    assert asked and not [path for path in asked for folder in never if folder and folder.id in path]
    assert provider.find(ref, "<junk@example.net>") is None  # nor found by a look-up across the mailbox


def test_an_expired_folder_starts_again_alone(provider: GraphProvider, seeded: Seeded) -> None:
    archive = seeded.emulator.world.folder(seeded.alice.id, "archive")
    assert archive is not None
    ref = connect(provider, seeded, ALICE_C)
    cursor = json.loads(provider.start_cursor(ref))
    cursor["links"][archive.id] = cursor["links"][archive.id].split("$deltatoken=")[0] + "$deltatoken=gone"
    seeded.emulator.send("carol@fabrikam.com", mail("carol@fabrikam.com", [ALICE_C], message_id="<e1@fabrikam.com>"))
    [arrived] = seeded.emulator.messages(ALICE_C, "inbox")
    seeded.emulator.move_message(arrived.id, "archive")

    first = provider.read_changes(ref, json.dumps(cursor))  # Archive answers 410; Inbox and Sent Items go on
    assert first.more and list(first.removed) == [arrived.id]
    second = provider.read_changes(ref, first.cursor)  # the Archive's new round, from the last good read
    assert [e.internet_message_id for e in second.envelopes] == ["<e1@fabrikam.com>"]
    assert json.loads(second.cursor)["links"][cursor["sent"]] != cursor["links"][cursor["sent"]]


# --- the stories ------------------------------------------------------------------------------------------
@pytest.fixture
def office(engine: Engine) -> Iterator[Office]:
    with open_office(engine) as found:
        yield found


def _to(*addresses: str) -> list[Recipient]:
    return [Recipient(email_address=EmailAddress(address=a)) for a in addresses]


def _alice_bccs_the_matter(office: Office, settle: bool = True) -> str:
    async def send(client: GraphServiceClient) -> None:
        await client.me.send_mail.post(SendMailPostRequestBody(message=Message(
            subject="Smith v. Jones: settlement", to_recipients=_to(CAROL), bcc_recipients=_to(MATTER)),
            save_to_sent_items=True))  # msgraph-sdk defaults it to False; Outlook saves

    office.as_alice(send)
    if settle:
        office.settle()
    [sent] = office.emulator.messages(ALICE, "sentitems")
    return sent.parsed.message_id


def _carol_replies(office: Office, opening: str, message_id: str,
                   subject: str = "Re: Smith v. Jones: settlement") -> str:
    return office.send(CAROL, mail(f"Carol <{CAROL}>", [ALICE], subject=subject,
                                   message_id=message_id, in_reply_to=opening, references=[opening]))


def _rule_moving_clientco_mail(office: Office, *path: str) -> str:
    """Alice's Outlook: the folder ``path`` (a child of the one before) and an Inbox rule moving clientco.com's
    mail there; the folder's id."""
    assert office.emulator.urls is not None
    token = delegated_token(office.emulator.urls, ALICE, [*CLIENT_SCOPES, "MailboxSettings.ReadWrite"])

    async def make_rule(client: GraphServiceClient) -> str:
        parent = None
        for name in path:
            folders = (client.me.mail_folders if parent is None
                       else client.me.mail_folders.by_mail_folder_id(parent).child_folders)
            made = await folders.post(MailFolder(display_name=name))
            assert made is not None and made.id
            parent = made.id
        assert parent is not None
        await client.me.mail_folders.by_mail_folder_id("inbox").message_rules.post(MessageRule(
            display_name=f"clientco.com to {path[-1]}", sequence=1, is_enabled=True,
            conditions=MessageRulePredicates(sender_contains=["clientco.com"]),
            actions=MessageRuleActions(move_to_folder=parent, stop_processing_rules=True)))
        return parent

    return run(_with(office, token, make_rule))


def test_a_rule_files_a_clients_reply_into_clients_acme_before_anyone_reads_it_and_it_is_logged(
        office: Office) -> None:
    acme_id = _rule_moving_clientco_mail(office, "Clients", "Acme")
    opening = _alice_bccs_the_matter(office)
    reply_id = _carol_replies(office, opening, "<acme-reply@clientco.com>")
    office.settle()

    [filed] = office.emulator.messages(ALICE, acme_id)
    assert filed.parsed.message_id == reply_id and office.emulator.messages(ALICE, "inbox") == []
    reply = db.logged(office.engine, normalize_message_id(reply_id))
    assert reply is not None and "matter:10802" in reply.filed_under

    # Her next reply edits the subject: a new Outlook conversation, moved by the same rule, still filed.
    revised_id = _carol_replies(office, reply_id, "<acme-revised@clientco.com>", "Counter-offer (revised)")
    office.settle()
    revised = db.logged(office.engine, normalize_message_id(revised_id))
    assert revised is not None and "matter:10802" in revised.filed_under


def test_an_edited_subject_reply_a_rule_moved_before_its_conversation_was_filed_is_filed(office: Office) -> None:
    """Alice Bccs the matter and Carol answers under a new subject before Alice's mailbox is read; a rule moves
    the answer into Clients/Key clients, where it opens an Outlook conversation of its own."""
    _rule_moving_clientco_mail(office, "Clients", "Key clients")
    office.settle()
    opening = _alice_bccs_the_matter(office, settle=False)
    revised_id = _carol_replies(office, opening, "<key-revised@clientco.com>", "Counter-offer (revised)")
    office.settle()
    revised = db.logged(office.engine, normalize_message_id(revised_id))
    assert revised is not None and "matter:10802" in revised.filed_under


def test_a_folder_a_new_rule_fills_during_a_burst_is_read_within_minutes(office: Office) -> None:
    """The rule's folder is made after the last mapping of the folders, and its first mail is buried under a
    burst newer than the probe lists: the cut probe re-maps (the mapping is over five minutes old), so Carol's
    answer under a new subject — which only that folder's delta brings, being a conversation of its own — is
    filed now, not at the next hourly mapping."""
    opening = _alice_bccs_the_matter(office)
    _rule_moving_clientco_mail(office, "Key clients")
    office.later(minutes=6)
    revised_id = _carol_replies(office, opening, "<buried@clientco.com>", "Counter-offer (revised)")
    for n in range(deltas.PROBE_SIZE + 5):
        office.send("news@lists.example", mail("News <news@lists.example>", [ALICE], subject=f"Digest {n}",
                                               message_id=f"<digest{n}@lists.example>"))
    office.settle()
    revised = db.logged(office.engine, normalize_message_id(revised_id))
    assert revised is not None and "matter:10802" in revised.filed_under


def test_a_reply_moved_from_the_inbox_to_the_archive_is_logged_once(office: Office) -> None:
    opening = _alice_bccs_the_matter(office)
    reply_id = _carol_replies(office, opening, "<archived@clientco.com>")
    office.settle()
    [arrived] = office.emulator.messages(ALICE, "inbox")

    async def archive(client: GraphServiceClient) -> Message | None:
        to_archive = MovePostRequestBody(destination_id="archive")
        return await client.me.messages.by_message_id(arrived.id).move.post(to_archive)

    moved = office.as_alice(archive)  # Alice's Outlook asks for default ids: the moved item has a new one
    assert moved is not None and moved.id != arrived.id
    office.settle()
    reply = db.logged(office.engine, normalize_message_id(reply_id))
    assert reply is not None and "matter:10802" in reply.filed_under
    assert db.count(office.engine, Activity) == 2  # Alice's mail and Carol's reply, each once


async def _with(office: Office, token: str, scenario):  # type: ignore[no-untyped-def]
    assert office.emulator.urls is not None
    return await scenario(graph_client(office.emulator.urls, token))
