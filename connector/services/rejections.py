"""Calls refused as forged or hostile: counted exactly in the metrics, sampled into the audit.

A flood of forged webhook calls must not become a flood of audit rows (nor of audit writes racing each
other): per action, source and reason there is one audit row a minute, whose ``detail.count`` says how
many calls it stands for and ``detail.last`` what the latest one was. Each process keeps the row of the
current minute and updates it by primary key, so with several web processes a minute may have one row
per process; the Prometheus counters are exact either way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client import Counter
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col

from connector.db import transaction, utcnow
from connector.models import AuditEntry
from connector.sync import metrics

WEBHOOK = "webhook_rejected"
REQUEST = "request_rejected"  # console and API input refused before any work (NUL bytes, nesting, size)
WINDOW = timedelta(minutes=1)
REQUESTS_REJECTED = Counter("bcc_capture_requests_rejected_total", "Console and API requests refused as hostile "
                            "input", ["area", "reason"])
_DETAIL_CHARS = 300  # a forger chooses the detail: keep it short


@dataclass
class _Minute:
    start: datetime
    row_id: int
    count: int


_lock = threading.Lock()
_minutes: dict[tuple[str, str, str, str], _Minute] = {}


def record(engine: Engine, source: str, reason: str, detail: str = "", *, action: str = WEBHOOK,
           now: datetime | None = None) -> None:
    """Count one refused call and fold it into the audit row of its minute (a new row for a new minute)."""
    (metrics.WEBHOOKS_REJECTED if action == WEBHOOK else REQUESTS_REJECTED).labels(source, reason).inc()
    now = now or utcnow()
    start = now - timedelta(seconds=now.second, microseconds=now.microsecond)
    key = (engine.url.render_as_string(), action, source, reason)
    last = detail[:_DETAIL_CHARS]
    with _lock:
        minute = _minutes.get(key)
        if minute is not None and minute.start == start:
            minute.count += 1
            if _update(engine, minute, (action, source, reason), last, now):
                return
        _minutes[key] = _insert(engine, action, source, reason, last, start, now)


def _detail(start: datetime, count: int, last: str, now: datetime) -> dict[str, object]:
    return {"detail": last, "last": last, "count": count, "minute": start.isoformat(), "last_at": now.isoformat()}


def _update(engine: Engine, minute: _Minute, what: tuple[str, str, str], last: str, now: datetime) -> bool:
    action, source, reason = what
    with transaction(engine) as session:  # the row by id, if it is still this one (ids can be reused after a purge)
        result = session.exec(update(AuditEntry).where(  # type: ignore[call-overload]
            col(AuditEntry.id) == minute.row_id, col(AuditEntry.action) == action, col(AuditEntry.source) == source,
            col(AuditEntry.reason) == reason, col(AuditEntry.at) >= minute.start)
            .values(detail=_detail(minute.start, minute.count, last, now)))
        return bool(result.rowcount)  # 0: the row is gone (pruned), so a new one is written


def _insert(engine: Engine, action: str, source: str, reason: str, last: str, start: datetime,
            now: datetime) -> _Minute:
    with transaction(engine) as session:
        row = AuditEntry(action=action, reason=reason, source=source, at=now, detail=_detail(start, 1, last, now))
        session.add(row)
        session.flush()
        assert row.id is not None
        return _Minute(start, row.id, 1)
