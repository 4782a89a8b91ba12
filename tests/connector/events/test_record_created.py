"""Records filing creates — a new contact from Alice's personal address, a case from her case- address — are
`record.created` events for the host system, written in the filing's own transaction (bulk or not) and
delivered signed like every event; a copy of the same mail creates nothing and tells nothing twice."""

from __future__ import annotations

from sqlmodel import Session, select

from connector.db import transaction
from connector.models import EventOutbox, Record
from connector.services.capture import capture_batch
from tests.conftest import World
from tests.connector.events.conftest import Events
from tests.connector.web.receiver import Receiver
from tests.mailbuilder import in_mailbox, mail, to_dropbox


def created(crm: Receiver) -> list[dict[str, object]]:
    return [e["data"] for e in crm.verified if e["type"] == "record.created"]


def test_a_contact_and_a_case_filing_creates_are_told_to_the_host_system(world: World, events: Events,
                                                                        crm: Receiver) -> None:
    crm.secret = events.register(world, crm.url)
    token = world.alice.dropbox_token
    intro = mail("Alice Archer <alice@acme-law.com>", ["Quinn Newman <quinn@newclient.example>"],
                 bcc=[f"dropbox-{token}@bcc.example.com"], subject="Welcome aboard", message_id="<intro@acme-law.com>")
    events.capture.process(to_dropbox(intro))
    events.capture.process(in_mailbox(intro, "alice@acme-law.com"))  # her Sent Items copy: nothing new
    events.capture.process(to_dropbox(mail("Alice Archer <alice@acme-law.com>", ["carol@clientco.com"],
                                           bcc=[f"case-{token}@bcc.example.com"], subject="Broken invoice",
                                           message_id="<case@acme-law.com>")))
    events.dispatcher.run_once()
    contact, case = created(crm)
    with Session(events.engine) as session:
        quinn = session.exec(select(Record).where(Record.email == "quinn@newclient.example")).one()
        ticket = session.exec(select(Record).where(Record.kind == "case")).one()
    assert (contact["record_id"], contact["kind"], contact["email"]) == (quinn.id, "contact", "quinn@newclient.example")
    assert (contact["first_name"], contact["last_name"], contact["owner_user_id"]) == (
        quinn.first_name, quinn.last_name, world.alice.id)
    assert (case["record_id"], case["kind"], case["number"], case["title"]) == (
        ticket.id, "case", ticket.number, "Broken invoice")
    assert case["origin_message_id"] == "<case@acme-law.com>" and str(ticket.number).startswith("CA")
    assert [e["type"] for e in crm.verified].count("activity.logged") == 2


def test_bulk_filing_writes_its_record_events_in_its_own_transaction(world: World, events: Events,
                                                                     crm: Receiver) -> None:
    events.register(world, crm.url)
    token = world.alice.dropbox_token
    batch = [to_dropbox(mail("Alice Archer <alice@acme-law.com>", [f"Person {n} <p{n}@newclient.example>"],
                             bcc=[f"dropbox-{token}@bcc.example.com"], subject=f"Hello {n}",
                             message_id=f"<hello-{n}@acme-law.com>")) for n in range(3)]
    with transaction(events.engine) as session:
        capture_batch(session, events.settings, events.clock, batch)
        mine = session.exec(select(EventOutbox.type).where(EventOutbox.type == "record.created")).all()
        with Session(events.engine) as elsewhere:  # not committed yet: nobody else sees them
            assert elsewhere.exec(select(EventOutbox)).all() == []
        assert len(mine) == 3
    events.dispatcher.run_once()
    assert sorted(str(r.event["data"].get("email")) for r in crm.received if r.event["type"] == "record.created") \
        == ["p0@newclient.example", "p1@newclient.example", "p2@newclient.example"]
