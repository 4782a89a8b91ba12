"""The directory cache: a process keeps what routing read of users, contacts and matters across transactions,
and a change made anywhere (the console, the CLI, another process) is seen by the very next message filed,
because the change moves the directory's version in its own transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine

from connector.db import transaction
from connector.models import Tenant, User
from connector.routing.decision import Outcome, Reason
from connector.services import records, users
from connector.services.capture import Capture
from tests import inspect_db as db
from tests.conftest import World
from tests.mailbuilder import mail, to_dropbox

ALICE = "Alice Archer <alice@acme-law.com>"


def notes_mail(number: int, to: str = "dana@newclient.example") -> bytes:
    return mail(ALICE, [to], bcc=["notes@bcc.example.com"], subject=f"Call {number}",
                message_id=f"<call{number}@acme-law.com>")


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_contact_created_in_the_console_is_seen_by_the_very_next_message(world: World,
                                                                            capture: Capture) -> None:
    first = capture.process(to_dropbox(notes_mail(1)))
    assert (first.outcome, first.reason) == (Outcome.UNASSIGNED, Reason.NO_MATCHING_CONTACT)  # "no Dana" is kept
    with transaction(world.engine) as session:  # the console, in a transaction of its own
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        dana = records.create_record(session, tenant, "contact", email="dana@newclient.example", name="Dana New")
    second = capture.process(to_dropbox(notes_mail(2)))
    assert (second.outcome, second.reason) == (Outcome.LOGGED, Reason.ADDRESSED)
    filed = db.logged(world.engine, "<call2@acme-law.com>")
    assert filed is not None and filed.filed_under == {"contact:dana@newclient.example"}
    assert dana.id is not None


def test_a_user_switching_capture_off_is_seen_by_the_next_message(world: World, capture: Capture) -> None:
    matter = mail(ALICE, ["carol@clientco.com"], bcc=["acme+10802@bcc.example.com"], subject="Draft",
                  message_id="<d1@acme-law.com>")
    assert capture.process(to_dropbox(matter)).outcome is Outcome.LOGGED
    with transaction(world.engine) as session:
        alice = session.get(User, world.alice.id)
        assert alice is not None
        users.set_capture(session, alice, False)
    again = capture.process(to_dropbox(matter.replace(b"<d1@", b"<d2@")))
    assert (again.outcome, again.reason) == (Outcome.REFUSED, Reason.CAPTURE_DISABLED)


def test_what_the_process_read_is_not_asked_again_while_nothing_changed(world: World, capture: Capture) -> None:
    capture.process(to_dropbox(notes_mail(1, to="carol@clientco.com")))
    with statements(world.engine) as seen:
        logged = capture.process(to_dropbox(notes_mail(2, to="carol@clientco.com")))
    assert logged.outcome is Outcome.LOGGED
    asked = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert not [s for s in asked if 'FROM "user"' in s or "FROM user" in s or "FROM record" in s], asked
    assert any("FROM directoryversion" in s for s in asked)  # only the versions, to know it all still stands
