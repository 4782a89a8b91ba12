"""A walled user files nothing under the record they are walled from: their Bcc is refused as `walled_record` and
they are told why by mail (through a real SMTP relay on loopback); a reply reaching their mailbox in the record's
thread is refused too, while the same reply read from a colleague's mailbox is filed. Mail to other records is
filed as before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from connector.config import OutboundSettings, Settings, load_settings
from connector.db import transaction
from connector.models import Activity, AuditEntry, Tenant
from connector.routing.decision import Outcome, Reason
from connector.services import walls
from connector.services.capture import Capture
from emulators.mailcatcher import MailCatcher
from tests import inspect_db as db
from tests.conftest import FIXED_NOW, World
from tests.mailbuilder import in_mailbox, mail, to_dropbox

ALICE, BOB, CAROL = "Alice Archer <alice@acme-law.com>", "Bob Baker <bob@acme-law.com>", "carol@clientco.com"
MATTER = "acme+10802@bcc.example.com"


@pytest.fixture
def relay() -> Iterator[MailCatcher]:
    with MailCatcher() as catcher:
        yield catcher


@pytest.fixture
def told(world: World, relay: MailCatcher) -> Capture:
    """Capture that sends notices through the relay; Bob is walled from matter 10802."""
    settings: Settings = load_settings()
    settings = settings.model_copy(update={"outbound": OutboundSettings(host=relay.host, port=relay.port,
                                                                        security="none")})
    with transaction(world.engine) as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        walls.add_wall(session, tenant, "matter:10802", "bob@acme-law.com", by="admin", reason="conflict")
    return Capture(world.engine, settings, clock=lambda: FIXED_NOW)


def test_a_walled_users_bcc_is_refused_and_he_is_told_why(world: World, told: Capture, relay: MailCatcher) -> None:
    applied = told.process(to_dropbox(mail(BOB, [CAROL], bcc=[MATTER], subject="My notes on Smith",
                                           message_id="<bob-1@acme-law.com>")))
    assert (applied.outcome, applied.reason) == (Outcome.REFUSED, Reason.WALLED)
    with world.session() as session:
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "refused")).all()
    assert entry.reason == "walled_record" and entry.detail["walled_record_ids"] == [world.matter.id]
    [notice] = relay.wait_for(1)
    text = notice.message.get_content()
    assert notice.rcpt_tos == ["bob@acme-law.com"]
    assert notice.message["Subject"] == "Your message was not filed (ethical wall)"
    assert "ethical wall between you and matter 10802" in text and "My notes on Smith" in text
    assert "Smith v. Jones" not in text  # the matter's title stays behind the wall
    assert db.count(world.engine, Activity) == 0


def test_the_same_bcc_from_a_colleague_is_filed_and_bob_files_elsewhere(world: World, told: Capture,
                                                                        relay: MailCatcher) -> None:
    alice = told.process(to_dropbox(mail(ALICE, [CAROL], bcc=[MATTER], subject="Settlement",
                                         message_id="<alice-1@acme-law.com>")))
    bob = told.process(to_dropbox(mail(BOB, [CAROL], bcc=["1001.acme@bcc.example.com"], subject="Website",
                                       message_id="<bob-2@acme-law.com>")))
    assert alice.outcome is Outcome.LOGGED and bob.outcome is Outcome.LOGGED
    assert relay.wait_for(1, timeout=0.5) == []


def test_a_reply_in_the_matters_thread_is_filed_from_alices_mailbox_not_from_bobs(world: World, told: Capture,
                                                                                  relay: MailCatcher) -> None:
    first = mail(ALICE, [CAROL], bcc=[MATTER], subject="Settlement", message_id="<t1@acme-law.com>")
    assert told.process(in_mailbox(first, "alice@acme-law.com")).outcome is Outcome.LOGGED
    reply = mail(f"Carol Client <{CAROL}>", ["alice@acme-law.com", "bob@acme-law.com"], subject="Re: Settlement",
                 message_id="<r1@clientco.com>", in_reply_to="<t1@acme-law.com>", references=["<t1@acme-law.com>"])
    in_bobs = told.process(in_mailbox(reply, "bob@acme-law.com"))
    assert (in_bobs.outcome, in_bobs.reason) == (Outcome.REFUSED, Reason.WALLED)
    in_alices = told.process(in_mailbox(reply, "alice@acme-law.com"))
    assert in_alices.outcome is Outcome.LOGGED
    assert relay.wait_for(1, timeout=0.5) == []  # Bob did not ask to file it: nobody is told
