"""Send As through Outlook (msgraph-sdk against the Graph emulator): Alice writes as a shared mailbox with the
matter in Bcc; Exchange puts the copy in her Sent Items with From the shared address. The firm sent it: it is
filed as sent mail, hers, whether the shared mailbox is at the company's verified domain or at another one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from msgraph import GraphServiceClient
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.message import Message
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from sqlalchemy.engine import Engine

from connector.mail.envelope import normalize_message_id
from tests import inspect_db as db
from tests.providers.graph.conftest import TENANT
from tests.providers.graph.office import ALICE, CAROL, MATTER, Office, open_office

FRONT_DESK = "front-desk@acme-group.example"  # the firm's other brand: a domain the company never verified
INFO = "info@acme-law.com"


@pytest.fixture
def office(engine: Engine) -> Iterator[Office]:
    with open_office(engine) as found:
        for shared in (FRONT_DESK, INFO):
            found.emulator.add_shared_mailbox(shared, "Acme Law", TENANT, send_as=(ALICE,))
        yield found


def send_as(office: Office, shared: str, subject: str) -> str:
    def to(address: str) -> list[Recipient]:
        return [Recipient(email_address=EmailAddress(address=address))]

    async def send(client: GraphServiceClient) -> None:
        await client.me.send_mail.post(SendMailPostRequestBody(message=Message(
            subject=subject, from_=to(shared)[0], to_recipients=to(CAROL), bcc_recipients=to(MATTER)),
            save_to_sent_items=True))

    office.as_alice(send)
    office.settle()
    [sent] = [m for m in office.emulator.messages(ALICE, "sentitems") if m.parsed.subject == subject]
    assert sent.parsed.from_ is not None and sent.parsed.from_[1] == shared  # Exchange wrote the shared From
    return normalize_message_id(sent.parsed.message_id)


@pytest.mark.parametrize("shared", [FRONT_DESK, INFO])
def test_alices_send_as_mail_from_her_sent_items_is_filed_as_sent_and_hers(office: Office, shared: str) -> None:
    logged = db.logged(office.engine, send_as(office, shared, f"Smith v. Jones: from {shared}"))
    assert logged is not None and logged.filed_under == {"matter:10802"}
    assert logged.activity.direction == "sent"
    assert logged.activity.from_email == shared
    assert ("carol@clientco.com", "to", "contact") in logged.participants
