"""Filing keeps PostgreSQL's planner statistics current where autovacuum is off or behind: otherwise a connection
plans the checks behind every INSERT once, for near-empty tables, and keeps reading every e-mail for each."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from connector.config import Settings
from connector.services.capture import Capture
from tests.conftest import World
from tests.mailbuilder import mail, to_dropbox

MATTER = "acme+10802@bcc.example.com"


def _planned_activities(world: World) -> float:
    with world.engine.connect() as connection:
        return connection.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'activity'::regclass")).scalar_one()


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
