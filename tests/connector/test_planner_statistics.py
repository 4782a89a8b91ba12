"""Filing keeps PostgreSQL's planner statistics current where autovacuum is off or behind: otherwise a connection
plans the checks behind every INSERT once, for near-empty tables, and keeps reading every e-mail for each."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import text

from connector.config import Settings
from connector.planner_statistics import planned_rows
from connector.services.capture import Capture
from tests.conftest import World
from tests.mailbuilder import mail, to_dropbox

MATTER = "acme+10802@bcc.example.com"


def _planned_activities(world: World) -> float:
    with world.engine.connect() as connection:
        return planned_rows(connection, "activity")


def test_the_planner_learns_of_the_mail_filed_once_it_grew_enough(
        world: World, settings: Settings, refresh_planner_after: Callable[[int], None]) -> None:
    if world.engine.dialect.name != "postgresql":
        pytest.skip("SQLite plans these look-ups and checks from its indexes alone")
    refresh_planner_after(3)
    capture = Capture(world.engine, settings)
    filed = []
    for n in range(4):
        raw = mail("Alice Archer <alice@acme-law.com>", ["carol@clientco.com"], bcc=[MATTER], subject=f"Item {n}",
                   message_id=f"<stat{n}@acme-law.com>")
        filed.append(capture.process(to_dropbox(raw)).activity_id)
        planned = _planned_activities(world)
        if n < 2:
            assert planned == 0, "refreshed before the mail grew enough"
    assert None not in filed
    # refreshed after the third e-mail's commit (its own row counted), not again for the fourth
    assert planned == 3


def test_filing_is_not_held_up_by_a_vacuum_of_the_mail(world: World, settings: Settings,
                                                       refresh_planner_after: Callable[[int], None]) -> None:
    """A VACUUM (autovacuum's, for minutes on a large table) holds the lock ANALYZE needs: the mail is filed and
    the refresh leaves that table to it."""
    if world.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no ANALYZE to run here")
    refresh_planner_after(1)
    raw = mail("Alice Archer <alice@acme-law.com>", ["carol@clientco.com"], bcc=[MATTER], subject="During a vacuum",
               message_id="<vacuum1@acme-law.com>")
    filed: list[int | None] = []
    with world.engine.connect() as vacuum:
        vacuum.execute(text("LOCK TABLE activity IN SHARE UPDATE EXCLUSIVE MODE"))  # the lock a VACUUM holds
        filing = threading.Thread(target=lambda: filed.append(Capture(world.engine, settings).process(
            to_dropbox(raw)).activity_id))
        filing.start()
        filing.join(timeout=20)
        stuck = filing.is_alive()
        vacuum.rollback()
    filing.join()
    assert not stuck, "the filing thread waited for the vacuum"
    assert filed and filed[0] is not None
    assert _planned_activities(world) == 0  # left to the vacuum, the others refreshed
