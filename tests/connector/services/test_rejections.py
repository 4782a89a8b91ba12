"""Refused webhook calls in the audit: one row a minute per source and reason, counting every call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select

from connector.db import transaction
from connector.models import AuditEntry
from connector.services import rejections

NINE = datetime(2031, 5, 6, 9, 0, 5, tzinfo=UTC)  # a minute no other test writes in


def rows(engine: Engine) -> list[tuple[str, str, str, int]]:
    with Session(engine) as session:
        found = session.exec(select(AuditEntry).where(col(AuditEntry.action).in_(
            [rejections.WEBHOOK, rejections.REQUEST])).order_by(col(AuditEntry.id))).all()
    return [(r.action, r.source, r.reason, r.detail["count"]) for r in found]


def test_a_minute_of_forged_calls_is_one_row_with_their_count(engine: Engine) -> None:
    for second in range(0, 50, 2):  # 25 calls within 09:00
        rejections.record(engine, "graph", "client_state_mismatch", "guessed", now=NINE + timedelta(seconds=second))
    rejections.record(engine, "gmail", "invalid_token", "forged", now=NINE)
    rejections.record(engine, "graph", "malformed", "not json", now=NINE)
    rejections.record(engine, "graph", "client_state_mismatch", "guessed", now=NINE + timedelta(minutes=1))
    rejections.record(engine, "api", "nested_too_deeply", "", action=rejections.REQUEST, now=NINE)
    assert rows(engine) == [("webhook_rejected", "graph", "client_state_mismatch", 25),
                            ("webhook_rejected", "gmail", "invalid_token", 1),
                            ("webhook_rejected", "graph", "malformed", 1),
                            ("webhook_rejected", "graph", "client_state_mismatch", 1),
                            ("request_rejected", "api", "nested_too_deeply", 1)]


def test_a_pruned_row_is_written_again_and_a_forgers_detail_is_cut_short(engine: Engine) -> None:
    later = NINE + timedelta(hours=1)
    rejections.record(engine, "graph", "malformed", "x", now=later)
    with transaction(engine) as session:
        session.exec(delete(AuditEntry))  # type: ignore[call-overload]
        session.add(AuditEntry(action="refused", reason="unauthorized_sender", detail={"subject": "kept"}))
    rejections.record(engine, "graph", "malformed", "y" * 10_000, now=later + timedelta(seconds=1))
    assert rows(engine) == [("webhook_rejected", "graph", "malformed", 1)]
    with Session(engine) as session:
        found = {row.action: row for row in session.exec(select(AuditEntry)).all()}
    assert found["refused"].detail == {"subject": "kept"}  # an emptied table may give its id to another row
    row = found["webhook_rejected"]
    assert row.detail["last"] == "y" * 300 and row.at == later + timedelta(seconds=1)
