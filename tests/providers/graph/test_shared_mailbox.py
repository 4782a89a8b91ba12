"""Shared mailboxes, Send As and Send on Behalf: Alice writes as info@acme-law.com (or on its behalf); her Sent
Items copy (From: the shared address) is filed as hers; the client's reply lands in the shared mailbox, which the
company connected with its tenant-wide access, and is followed there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from msgraph import GraphServiceClient
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from sqlalchemy.engine import Engine
from sqlmodel import select

from connector.db import transaction
from connector.mail.envelope import normalize_message_id
from connector.models import Activity, Mailbox, Tenant
from connector.services import tenant_access, users
from tests import inspect_db as db
from tests.mailbuilder import mail
from tests.providers.graph.conftest import CLIENT_ID, TENANT, graph_client
from tests.providers.graph.office import ALICE, BOB, CAROL, KEY, MATTER, Office, delegated_token, open_office

SHARED = "info@acme-law.com"


@pytest.fixture
def office(engine: Engine) -> Iterator[Office]:
    with open_office(engine) as found:
        found.emulator.add_shared_mailbox(SHARED, "Acme Law Info", TENANT, send_as=(ALICE,))
        yield found


@pytest.fixture
def on_behalf_office(engine: Engine) -> Iterator[Office]:
    """Alice may send on the shared mailbox's behalf only (Set-Mailbox -GrantSendOnBehalfTo), not as it."""
    with open_office(engine) as found:
        found.emulator.add_shared_mailbox(SHARED, "Acme Law Info", TENANT, send_on_behalf=(ALICE,))
        yield found


def _as_shared(client: GraphServiceClient, subject: str) -> SendMailPostRequestBody:
    def to(address: str) -> list[Recipient]:
        return [Recipient(email_address=EmailAddress(address=address))]

    return SendMailPostRequestBody(message=Message(
        subject=subject, from_=to(SHARED)[0], to_recipients=to(CAROL), bcc_recipients=to(MATTER)),
        save_to_sent_items=True)


def test_alices_send_as_mail_with_the_matter_in_bcc_is_filed_as_hers(office: Office) -> None:
    async def send(client: GraphServiceClient) -> None:
        await client.me.send_mail.post(_as_shared(client, "Smith v. Jones: from the front desk"))

    office.as_alice(send)
    office.settle()
    [sent] = office.emulator.messages(ALICE, "sentitems")  # her Sent Items, From: the shared mailbox
    assert sent.parsed.from_ is not None and sent.parsed.from_[1] == SHARED
    logged = db.logged(office.engine, normalize_message_id(sent.parsed.message_id))
    assert logged is not None and logged.filed_under == {"matter:10802"} and logged.sources == {("graph", ALICE)}
    with transaction(office.engine) as session:
        alice = users.get_user(session, ALICE)
        assert logged.activity.owner_user_id == alice.id  # she sent it, from her own Sent Items


def test_alices_mail_sent_on_behalf_of_the_shared_mailbox_with_the_matter_in_bcc_is_filed_as_hers(
        on_behalf_office: Office) -> None:
    office = on_behalf_office

    async def send(client: GraphServiceClient) -> None:
        await client.me.send_mail.post(_as_shared(client, "Smith v. Jones: on the desk's behalf"))

    office.as_alice(send)
    office.settle()
    [sent] = office.emulator.messages(ALICE, "sentitems")  # her Sent Items: From the shared mailbox, Sender her
    assert sent.parsed.from_ is not None and sent.parsed.from_[1] == SHARED
    assert sent.parsed.sender is not None and sent.parsed.sender[1] == ALICE
    assert office.emulator.messages(SHARED, "sentitems") == []
    logged = db.logged(office.engine, normalize_message_id(sent.parsed.message_id))
    assert logged is not None and logged.filed_under == {"matter:10802"} and logged.sources == {("graph", ALICE)}
    assert db.count(office.engine, Activity) == 1  # filed once
    with transaction(office.engine) as session:
        alice = users.get_user(session, ALICE)
        assert logged.activity.owner_user_id == alice.id


def test_a_user_without_send_as_is_refused_by_exchange(office: Office) -> None:
    assert office.emulator.urls is not None
    token = delegated_token(office.emulator.urls, BOB)

    async def send() -> None:
        client = graph_client(office.emulator.urls, token)  # type: ignore[arg-type]
        await client.me.send_mail.post(_as_shared(client, "not allowed"))

    import asyncio

    with pytest.raises(ODataError) as refused:
        asyncio.run(send())
    assert refused.value.error is not None and refused.value.error.code == "ErrorSendAsDenied"
    assert office.emulator.messages(BOB, "sentitems") == []


def test_a_reply_to_the_shared_mailbox_the_company_connected_is_followed(office: Office) -> None:
    """The minimal path: the shared mailbox is a user of the company with capture on, and the company's
    tenant-wide (admin consent) access reads it, as it reads every enabled user's mailbox."""
    office.emulator.grant_admin_consent(TENANT, CLIENT_ID)
    with transaction(office.engine) as session:
        tenant = session.exec(select(Tenant)).one()
        shared = users.create_user(session, tenant, SHARED, "Acme Law Info")
        users.set_capture(session, shared, True)
        from connector.crypto import TokenCipher

        assert tenant_access.grant_graph(session, tenant, TENANT, TokenCipher(KEY)) == 1  # only the new one
    office.worker.tick_schedules()
    office.settle()

    async def send(client: GraphServiceClient) -> None:
        await client.me.send_mail.post(_as_shared(client, "Smith v. Jones: next steps"))

    office.as_alice(send)
    office.settle()
    [sent] = office.emulator.messages(ALICE, "sentitems")
    opening = sent.parsed.message_id
    reply_id = office.send(CAROL, mail(f"Carol <{CAROL}>", [SHARED], subject="Re: Smith v. Jones: next steps",
                                       message_id="<to-info@clientco.com>", in_reply_to=opening,
                                       references=[opening]))
    office.settle()
    [arrived] = office.emulator.messages(SHARED, "inbox")
    assert arrived.parsed.message_id == reply_id
    reply = db.logged(office.engine, normalize_message_id(reply_id))
    assert reply is not None and "matter:10802" in reply.filed_under and ("graph", SHARED) in reply.sources
    with transaction(office.engine) as session:
        box = session.exec(select(Mailbox).where(Mailbox.address == SHARED)).one()
        assert box.app_only and box.state == "incremental"
