"""What the core asks to read of a mailbox message it only knows by ids (a Gmail history record)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session

from connector.config import Settings
from connector.mail.envelope import Direction, Envelope, Source
from connector.routing.core import Router, Want
from connector.routing.repository import SqlRepository
from connector.services.capture import Capture
from tests.conftest import World
from tests.mailbuilder import in_mailbox, mail

ALICE = "alice@acme-law.com"
MATTER = "acme+10802@bcc.example.com"
LOGGED_THREAD = f"gmail:{ALICE}:t-logged"


def stub(direction: Direction, thread_key: str, mailbox: str = ALICE) -> Envelope:
    return Envelope(Source.GMAIL, "", mailbox=mailbox, provider_message_id="m-1", thread_key=thread_key,
                    direction=direction, complete=False, ids_only=True)


@pytest.fixture
def router(world: World, settings: Settings, capture: Capture) -> Iterator[Router]:
    opening = mail(f"Alice <{ALICE}>", ["carol@clientco.com"], bcc=[MATTER], subject="Draft", message_id="<w1@acme>")
    assert capture.process(in_mailbox(opening, ALICE, thread_key=LOGGED_THREAD)).created
    with Session(world.engine) as session:
        yield Router(SqlRepository(session), settings)


@pytest.mark.parametrize("direction", [Direction.RECEIVED, Direction.SENT])
def test_mail_in_a_logged_thread_is_downloaded_at_once(router: Router, direction: Direction) -> None:
    assert router.wants(stub(direction, LOGGED_THREAD)) is Want.FULL


def test_sent_mail_in_an_unknown_thread_needs_its_headers_for_the_bcc(router: Router) -> None:
    assert router.wants(stub(Direction.SENT, f"gmail:{ALICE}:t-new")) is Want.HEADERS


def test_received_mail_in_an_unknown_thread_is_not_read(router: Router) -> None:
    assert router.wants(stub(Direction.RECEIVED, f"gmail:{ALICE}:t-new")) is Want.NOTHING


def test_a_mailbox_nobody_owns_gets_nothing_read(router: Router) -> None:
    stranger = "eve@elsewhere.example"
    assert router.wants(stub(Direction.SENT, f"gmail:{stranger}:t-logged", mailbox=stranger)) is Want.NOTHING


def test_once_the_headers_are_read_the_usual_rules_decide(router: Router) -> None:
    sent = mail(f"Alice <{ALICE}>", ["carol@clientco.com"], bcc=[MATTER], subject="New", message_id="<w2@acme>")
    plain = mail(f"Alice <{ALICE}>", ["carol@clientco.com"], subject="Lunch", message_id="<w3@acme>")
    assert router.wants(in_mailbox(sent, ALICE, thread_key=f"gmail:{ALICE}:t-2")) is Want.FULL
    assert router.wants(in_mailbox(plain, ALICE, thread_key=f"gmail:{ALICE}:t-3")) is Want.NOTHING
