"""PostgreSQL's planner statistics of the tables capture grows, refreshed as autovacuum would refresh them.

PostgreSQL plans from statistics that autovacuum refreshes a minute or more behind a bulk load, or never where it is
off (this project's CI and test machine run it off). And a connection keeps the plans of the foreign-key checks
behind every INSERT for its whole life: made while `activity` was near-empty, the check of each participant's,
link's and source's `activity_id` stays a sequential scan of every e-mail (PostgreSQL's own RI queries,
`RI_FKey_check`, seen with perf: 4,000 messages in pages of 50 cost the server 5.4 s, 3.0 s with fresh plans).
ANALYZE both refreshes the statistics and invalidates every connection's cached plans on those tables, so each
writer runs it, in a transaction of its own after its commit, once early and then whenever the e-mails grew by
half: a few times in a table's life, each reading a sample (it blocks no reader or writer, and waits for no lock).
"""

from __future__ import annotations

import logging
import threading
from weakref import WeakKeyDictionary

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

log = logging.getLogger("bcc_capture.sync")
FIRST_AFTER = 500  # e-mails written by this process before its first refresh
GROWN = ("activity", "participant", "thread", "threadkey", "threadtarget", "activitylink", "activitysource",
         "rawmessage", "attachment", "blob", "auditentry", "record")


class _Growth:
    def __init__(self) -> None:
        self.since = 0  # e-mails written since the last refresh
        self.due = FIRST_AFTER


_lock = threading.Lock()
_growth: WeakKeyDictionary[Engine, _Growth] = WeakKeyDictionary()


def grew(session: Session, activities: int) -> None:
    """``activities`` e-mails were written in ``session``'s transaction: refresh after it commits when due."""
    engine = session.get_bind()
    if activities <= 0 or not isinstance(engine, Engine) or engine.dialect.name != "postgresql":
        return  # SQLite plans these look-ups and checks from its indexes alone
    with _lock:
        growth = _growth.setdefault(engine, _Growth())
        growth.since += activities
        if growth.since < growth.due:
            return
        growth.since = 0  # claimed: the process's other threads go on counting
    event.listen(session, "after_commit", lambda _session: refresh(engine), once=True)


def planned_rows(connection: Connection, table: str) -> float:
    """The rows PostgreSQL's planner believes ``table`` holds (-1: never analyzed)."""
    return float(connection.execute(text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                                    {"t": table}).scalar_one())


def refresh(engine: Engine) -> None:
    """Best effort: the mail is committed already, so a failure here is logged, never raised into the commit."""
    try:
        with engine.begin() as connection:
            # SKIP_LOCKED: a table a VACUUM (autovacuum's too) or another writer's ANALYZE holds is left to it,
            # rather than holding up this thread after its commit
            connection.execute(text(f"ANALYZE (SKIP_LOCKED) {', '.join(GROWN)}"))
            activities = max(int(planned_rows(connection, "activity")), 0)
    except SQLAlchemyError as exc:
        log.warning("planner statistics not refreshed (tried again after the next %d e-mails): %s", FIRST_AFTER, exc)
        activities = 0
    with _lock:
        _growth.setdefault(engine, _Growth()).due = max(FIRST_AFTER, activities // 2)
