"""What Exchange Online does that a kind emulator would not, and the adapter surviving it:

* Sent Items copies carry no ``internetMessageHeaders`` (microsoftgraph/microsoft-graph-docs#2716): a sent
  reply's In-Reply-To/References are only in its MIME;
* Message-IDs carry the server name in upper case (``<…@MWHPR1120.namprd22.prod.outlook.com>``) and
  ``internetMessageId eq`` is not promised to ignore case, while the core keys ids with a lower-case domain;
* an expired delta token answers 410 ``SyncStateNotFound`` (microsoft-graph-docs#2350).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.messages.item.message_item_request_builder import MessageItemRequestBuilder
from msgraph.generated.users.item.messages.item.reply.reply_post_request_body import ReplyPostRequestBody
from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from sqlalchemy.engine import Engine

from connector.errors import CursorExpired
from connector.mail.envelope import Direction, normalize_message_id
from providers.graph.adapter import GraphProvider
from providers.graph.client import from_status
from providers.graph.mapping import EXPAND
from tests import inspect_db as db
from tests.mailbuilder import mail
from tests.providers.graph.conftest import Seeded, graph_client, run
from tests.providers.graph.office import ALICE, CAROL, MATTER, Office, delegated_token, open_office
from tests.providers.graph.test_adapter import connect, graph_settings


def recipients(*addresses: str) -> list[Recipient]:
    return [Recipient(email_address=EmailAddress(address=a)) for a in addresses]


def new_mail(subject: str, to: list[str], cc: list[str] = (), bcc: list[str] = ()) -> SendMailPostRequestBody:  # type: ignore[assignment]
    return SendMailPostRequestBody(message=Message(
        subject=subject, body=ItemBody(content_type=BodyType.Text, content="Please see below."),
        to_recipients=recipients(*to), cc_recipients=recipients(*cc), bcc_recipients=recipients(*bcc)),
        save_to_sent_items=True)  # msgraph-sdk defaults it to False


def headers_of(client: GraphServiceClient, message_id: str) -> Message:
    query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
        select=["internetMessageId", "internetMessageHeaders"])
    return client.me.messages.by_message_id(message_id).get(RequestConfiguration(query_parameters=query))


def by_message_id(client: GraphServiceClient, *spellings: str) -> list[Message]:
    wanted = " or ".join(f"internetMessageId eq '{s}'" for s in spellings)
    query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(filter=wanted)
    return client.me.messages.get(RequestConfiguration(query_parameters=query))


# --- the emulator -----------------------------------------------------------------------------------
def test_only_copies_received_from_the_transport_carry_internet_headers(seeded: Seeded) -> None:
    alice_token = delegated_token(seeded.urls, seeded.alice.address)
    bob_token = delegated_token(seeded.urls, seeded.bob.address)

    async def scenario() -> tuple[Message, Message, bytes]:
        alice, bob = graph_client(seeded.urls, alice_token), graph_client(seeded.urls, bob_token)
        await alice.me.send_mail.post(new_mail("Kick-off", ["bob@contoso.com"]))
        [original] = (await bob.me.mail_folders.by_mail_folder_id("inbox").messages.get()).value
        await bob.me.messages.by_message_id(original.id).reply.post(ReplyPostRequestBody(comment="Agreed."))
        [sent_reply] = (await bob.me.mail_folders.by_mail_folder_id("sentitems").messages.get()).value
        mime = await bob.me.messages.by_message_id(sent_reply.id).content.get()
        return await headers_of(bob, sent_reply.id), await headers_of(bob, original.id), mime

    sent, received, mime = run(scenario())
    assert sent.internet_message_headers is None  # "internet headers just do not exist on the copy in Sent Items"
    assert {h.name for h in received.internet_message_headers} >= {"Message-ID", "From", "To"}
    assert message_from_bytes(mime)["In-Reply-To"] == received.internet_message_id  # the MIME still has them


def test_a_sent_copy_keeps_its_thread_ids_as_mapi_properties(seeded: Seeded) -> None:
    token = delegated_token(seeded.urls, seeded.bob.address)
    seeded.emulator.send(CAROL, mail(f"Carol <{CAROL}>", ["bob@contoso.com"], subject="Offer",
                                     message_id="<p1@clientco.com>", references=["<p0@clientco.com>"]))
    [original] = seeded.emulator.messages("bob@contoso.com", "inbox")
    expand = MessageItemRequestBuilder.MessageItemRequestBuilderGetQueryParameters(
        select=["subject"], expand=list(EXPAND))

    async def scenario() -> tuple[Message, Message, ODataError]:
        client = graph_client(seeded.urls, token)
        await client.me.messages.by_message_id(original.id).reply.post(ReplyPostRequestBody(comment="Yes."))
        [sent] = (await client.me.mail_folders.by_mail_folder_id("sentitems").messages.get()).value
        config = RequestConfiguration(query_parameters=expand)
        bad = MessageItemRequestBuilder.MessageItemRequestBuilderGetQueryParameters(expand=["attachments"])
        with pytest.raises(ODataError) as refused:
            await client.me.messages.by_message_id(sent.id).get(RequestConfiguration(query_parameters=bad))
        return (await client.me.messages.by_message_id(sent.id).get(config),
                await client.me.messages.by_message_id(original.id).get(config), refused.value)

    sent, received, refused = run(scenario())
    assert {(p.id, p.value) for p in sent.single_value_extended_properties} == {
        ("String 0x1042", "<p1@clientco.com>"), ("String 0x1039", "<p0@clientco.com> <p1@clientco.com>")}
    assert [(p.id, p.value) for p in received.single_value_extended_properties] == [
        ("String 0x1039", "<p0@clientco.com>")]  # no In-Reply-To on Carol's mail: that property is not there
    assert refused.response_status_code == 400  # the one expansion the emulator knows


def test_exchange_writes_message_ids_with_its_server_name_in_upper_case(seeded: Seeded) -> None:
    token = delegated_token(seeded.urls, seeded.alice.address)

    async def scenario() -> tuple[str, list[Message], list[Message]]:
        client = graph_client(seeded.urls, token)
        await client.me.send_mail.post(new_mail("Kick-off", ["bob@contoso.com"]))
        [sent] = (await client.me.mail_folders.by_mail_folder_id("sentitems").messages.get()).value
        written = str(sent.internet_message_id)
        lowered = normalize_message_id(written)
        return written, (await by_message_id(client, lowered)).value, \
            (await by_message_id(client, lowered, written)).value

    written, lowered_only, either = run(scenario())
    domain = written.rpartition("@")[2]
    assert domain != domain.lower() and domain.endswith(".prod.outlook.com>")
    assert lowered_only == []  # an exact comparison, as nothing documents otherwise
    assert [m.internet_message_id for m in either] == [written]


# --- the adapter ---------------------------------------------------------------------------------------
@pytest.fixture
def provider(seeded: Seeded) -> GraphProvider:
    return GraphProvider(graph_settings(seeded), clock=lambda: datetime.now(UTC))


def test_find_matches_an_exchange_message_id_whatever_the_case_of_its_domain(provider: GraphProvider,
                                                                             seeded: Seeded) -> None:
    ref = connect(provider, seeded, seeded.bob.address)
    token = delegated_token(seeded.urls, seeded.alice.address)
    run(_send(seeded, token, new_mail("Kick-off", ["bob@contoso.com"])))
    [copy] = seeded.emulator.messages(seeded.bob.address, "inbox")
    keyed = normalize_message_id(copy.parsed.message_id)  # as the core stores it
    assert keyed != copy.parsed.message_id
    found = provider.find(ref, keyed)
    assert found is not None and found.provider_message_id == copy.id and found.internet_message_id == keyed


async def _send(seeded: Seeded, token: str, body: SendMailPostRequestBody) -> None:
    await graph_client(seeded.urls, token).me.send_mail.post(body)


def test_a_sent_reply_names_its_thread_before_any_download(provider: GraphProvider, seeded: Seeded) -> None:
    ref = connect(provider, seeded, seeded.alice.address)
    cursor = provider.start_cursor(ref)
    seeded.emulator.send(CAROL, mail(f"Carol <{CAROL}>", [seeded.alice.address], subject="Offer",
                                     message_id="<q1@clientco.com>"))
    [original] = seeded.emulator.messages(seeded.alice.address, "inbox")
    token = delegated_token(seeded.urls, seeded.alice.address)

    async def reply() -> None:
        client = graph_client(seeded.urls, token)
        await client.me.messages.by_message_id(original.id).reply.post(ReplyPostRequestBody(comment="Yes."))

    run(reply())
    page = provider.read_changes(ref, cursor)
    [sent] = [e for e in page.envelopes if e.direction is Direction.SENT]
    assert sent.headers == ()  # Sent Items: no internetMessageHeaders ...
    assert sent.in_reply_to == ("<q1@clientco.com>",)  # ... but PidTagInReplyToId, $expanded with the delta
    assert sent.references == ("<q1@clientco.com>",) and not sent.complete
    [found] = [e for e in provider.thread(ref, sent)]
    assert found.internet_message_id == "<q1@clientco.com>"
    [full] = provider.fetch_full(ref, [sent])
    assert full.in_reply_to == ("<q1@clientco.com>",) and full.references == ("<q1@clientco.com>",)


def test_sync_state_not_found_in_its_real_casing_is_an_expired_cursor() -> None:
    error = from_status(410, "SyncStateNotFound", {}, "The sync state generation is not found; generation=149;")
    assert isinstance(error, CursorExpired)
    assert isinstance(from_status(400, "SyncStateNotFound", {}, "a 400 with the same code"), CursorExpired)


# --- the stories -----------------------------------------------------------------------------------------
@pytest.fixture
def office(engine: Engine) -> Iterator[Office]:
    with open_office(engine) as found:
        yield found


def test_alices_sent_reply_in_a_logged_thread_is_filed_though_sent_items_has_no_headers(office: Office) -> None:
    async def alice_writes(client: GraphServiceClient) -> None:
        await client.me.send_mail.post(new_mail("Smith v. Jones", [CAROL], bcc=[MATTER]))

    office.as_alice(alice_writes)
    office.settle()
    [first] = office.emulator.messages(ALICE, "sentitems")
    first_id = normalize_message_id(first.parsed.message_id)
    assert db.logged(office.engine, first_id) is not None
    carol_id = office.send(CAROL, mail(f"Carol <{CAROL}>", [ALICE], subject="RE: Smith v. Jones",
                                       message_id="<sj2@clientco.com>", in_reply_to=first.parsed.message_id,
                                       references=[first.parsed.message_id]))  # as written: upper-case server
    office.settle()
    [received] = office.emulator.messages(ALICE, "inbox")

    async def alice_replies(client: GraphServiceClient) -> None:  # no Bcc this time: the thread carries it
        await client.me.messages.by_message_id(received.id).reply.post(ReplyPostRequestBody(comment="Noted."))

    office.as_alice(alice_replies)
    office.settle()
    [answer] = [m for m in office.emulator.messages(ALICE, "sentitems") if m.id != first.id]
    assert not answer.internet_headers  # what the adapter reads from delta has no In-Reply-To
    answer_id = normalize_message_id(answer.parsed.message_id)
    for message_id in (first_id, carol_id, answer_id):
        found = db.logged(office.engine, message_id)
        assert found is not None and found.filed_under == {"matter:10802"}, message_id
    carol, filed = db.logged(office.engine, carol_id), db.logged(office.engine, answer_id)
    assert carol is not None and filed is not None and filed.activity.thread_id == carol.activity.thread_id
    assert filed.activity.direction == "sent"


@pytest.mark.parametrize("text_bodies", [False, True], ids=["base64", "text"])
def test_a_downloaded_message_is_byte_identical_however_batch_wraps_its_mime(
        provider: GraphProvider, seeded: Seeded, text_bodies: bool) -> None:
    """How `$batch` wraps a non-JSON body (a `$value`) is not documented: base64 or the text itself both work."""
    seeded.emulator.batch_text_bodies = text_bodies
    ref = connect(provider, seeded, seeded.alice.address)
    raw = mail(f"Carol <{CAROL}>", [seeded.alice.address], subject="Heads of terms", message_id="<b64@clientco.com>")
    seeded.emulator.send(CAROL, raw)
    [stored] = seeded.emulator.messages(seeded.alice.address, "inbox")
    found = provider.find(ref, "<b64@clientco.com>")
    assert found is not None
    [full] = provider.fetch_full(ref, [found])
    assert full.raw == stored.raw and full.subject == "Heads of terms"
    batched = [r.path for r in seeded.emulator.request_log() if r.path.endswith("/$batch")]
    assert batched  # the download went through $batch
