"""A matter the host system archived takes no more mail through its dropbox address: Alice's Bcc is refused as
`archived_record` (audited) and she is told why by mail (through a real SMTP relay on loopback); Bcc'd with a
live project too, the mail is filed there with a note. Replies in a thread already logged under the matter
still are filed under it (the conversation goes on). Restored, the address works again."""

from __future__ import annotations

import pytest
from sqlmodel import select

from connector.config import OutboundSettings, load_settings
from connector.db import transaction
from connector.models import Activity, ActivityLink, AuditEntry, Tenant
from connector.routing.decision import Outcome, Reason
from connector.services import host_records
from connector.services.capture import Capture
from emulators.mailcatcher import MailCatcher
from tests import inspect_db as db
from tests.conftest import FIXED_NOW, World
from tests.connector.routing.test_walls import relay  # noqa: F401 (fixture: the SMTP relay notices go through)
from tests.mailbuilder import in_mailbox, mail, to_dropbox

ALICE, CAROL = "Alice Archer <alice@acme-law.com>", "carol@clientco.com"
MATTER = "acme+10802@bcc.example.com"


@pytest.fixture
def told(world: World, relay: MailCatcher) -> Capture:  # noqa: F811
    """Capture that sends notices through the relay."""
    outbound = OutboundSettings(host=relay.host, port=relay.port, security="none")
    return Capture(world.engine, load_settings().model_copy(update={"outbound": outbound}), clock=lambda: FIXED_NOW)


def archive_matter(world: World, archived: bool = True) -> None:
    """The host system closes matter 10802 (PUT with "archived": true, as its API call does), or restores it."""
    with transaction(world.engine) as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        host_records.put_record(session, tenant, "matter", "MAT-10802", host_records.RecordFields(
            number="10802", title="Smith v. Jones", archived=archived), FIXED_NOW, by="api")


def filed_under(world: World, activity_id: int | None) -> set[int]:
    with world.session() as session:
        return set(session.exec(select(ActivityLink.record_id).where(ActivityLink.activity_id == activity_id)))


def test_a_bcc_to_an_archived_matter_is_refused_and_alice_is_told(world: World, told: Capture,
                                                                  relay: MailCatcher) -> None:  # noqa: F811
    archive_matter(world)
    applied = told.process(to_dropbox(mail(ALICE, [CAROL], bcc=[MATTER], subject="Final invoice",
                                           message_id="<late-1@acme-law.com>")))
    assert (applied.outcome, applied.reason) == (Outcome.REFUSED, Reason.ARCHIVED_RECORD)
    with world.session() as session:
        [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "refused")).all()
    assert entry.reason == "archived_record" and entry.detail["archived"] == ["matter 10802"]
    assert f"{MATTER}: matter 10802 is archived" in entry.detail["notes"]
    [notice] = relay.wait_for(1)
    text = notice.message.get_content()
    assert notice.rcpt_tos == ["alice@acme-law.com"]
    assert notice.message["Subject"] == "Your message was not filed (matter 10802 is archived)"
    assert "matter 10802 is closed and archived" in text and "Final invoice" in text
    assert db.count(world.engine, Activity) == 0


def test_bccd_with_a_live_project_too_the_mail_is_filed_there_with_a_note(world: World, told: Capture,
                                                                          relay: MailCatcher) -> None:  # noqa: F811
    archive_matter(world)
    applied = told.process(to_dropbox(mail(ALICE, [CAROL], bcc=[MATTER, "1001.acme@bcc.example.com"],
                                           subject="Site copy", message_id="<both@acme-law.com>")))
    assert applied.outcome is Outcome.LOGGED
    assert world.matter.id not in filed_under(world, applied.activity_id)
    assert world.project.id in filed_under(world, applied.activity_id)
    with world.session() as session:
        activity = session.get(Activity, applied.activity_id)
        assert activity is not None and f"{MATTER}: matter 10802 is archived" in activity.notes
    assert relay.wait_for(1, timeout=0.5) == []  # filed: nothing to tell


def test_replies_in_a_thread_logged_there_are_still_filed_under_the_archived_matter(world: World, told: Capture,
                                                                                   relay: MailCatcher) -> None:  # noqa: F811
    first = mail(ALICE, [CAROL], bcc=[MATTER], subject="Settlement", message_id="<t1@acme-law.com>")
    assert told.process(in_mailbox(first, "alice@acme-law.com")).outcome is Outcome.LOGGED
    archive_matter(world)
    reply = mail(f"Carol Client <{CAROL}>", ["alice@acme-law.com"], subject="Re: Settlement",
                 message_id="<r1@clientco.com>", in_reply_to="<t1@acme-law.com>", references=["<t1@acme-law.com>"])
    applied = told.process(in_mailbox(reply, "alice@acme-law.com"))
    assert (applied.outcome, applied.reason) == (Outcome.LOGGED, Reason.THREAD)
    assert world.matter.id in filed_under(world, applied.activity_id)
    again = mail(ALICE, [CAROL], bcc=[MATTER], subject="New instructions", message_id="<t2@acme-law.com>")
    refused = told.process(in_mailbox(again, "alice@acme-law.com"))  # her Sent Items copy of a new Bcc
    assert (refused.outcome, refused.reason) == (Outcome.REFUSED, Reason.ARCHIVED_RECORD)
    [notice] = relay.wait_for(1)
    assert notice.message["Subject"] == "Your message was not filed (matter 10802 is archived)"


def test_restored_the_address_takes_mail_again(world: World, told: Capture) -> None:
    archive_matter(world)
    assert told.process(to_dropbox(mail(ALICE, [CAROL], bcc=[MATTER], subject="Too early",
                                        message_id="<early@acme-law.com>"))).outcome is Outcome.REFUSED
    archive_matter(world, archived=False)
    applied = told.process(to_dropbox(mail(ALICE, [CAROL], bcc=[MATTER], subject="Reopened",
                                           message_id="<reopened@acme-law.com>")))
    assert applied.outcome is Outcome.LOGGED and world.matter.id in filed_under(world, applied.activity_id)
