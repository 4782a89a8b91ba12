"""The Communications tab for programs: the same threads as the console's (newest message first), paged with
a cursor instead of page numbers (services/paging.py), so no thread repeats or is skipped between pages.

A thread's position is its newest message's time and its id. A thread that gets a new message while a program
pages moves to the front, past the pages already read: it shows on the first page of the next read, as on the
console's tab. The filters and rows are the console's own (`connector.services.communications`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, func, nulls_last, or_
from sqlmodel import Session, col, select

from connector.models import Activity, Record, Tenant, Thread
from connector.services.communications import ThreadRow, _message_rows, _position, mail_of
from connector.services.paging import Page, Position, checked_limit
from connector.services.visibility import COMPANY, Reader


def communications_feed(session: Session, tenant: Tenant, record: Record | None, cursor: str | None,
                        limit: int = 50, reader: Reader = COMPANY, query: str = "") -> Page[ThreadRow]:
    """``limit`` threads of the record (or the company) after ``cursor``, each with all its messages ``reader``
    may read (walls, visibility) that match ``query`` (the console's full-text search, services/search.py)."""
    where = mail_of(session, tenant, record, query, reader)
    latest = func.max(Activity.sent_at)
    statement: Select[Any] = (select(Activity.thread_id, latest).where(*where).group_by(col(Activity.thread_id))
                              .order_by(nulls_last(latest.desc()), col(Activity.thread_id).desc()))
    if cursor:
        after = Position.decode(cursor)
        statement = statement.having(
            and_(latest.is_(None), col(Activity.thread_id) < after.id) if after.at is None else
            or_(latest < after.at, and_(latest == after.at, col(Activity.thread_id) < after.id), latest.is_(None)))
    found = list(session.exec(statement.limit(checked_limit(limit) + 1)))  # type: ignore[call-overload]
    more, found = len(found) > limit, found[:limit]
    thread_ids = [thread_id for thread_id, _ in found]
    activities = list(session.exec(select(Activity).where(*where, col(Activity.thread_id).in_(thread_ids))))
    subjects = dict(session.exec(select(Thread.id, Thread.subject).where(col(Thread.id).in_(thread_ids))).all())
    threads = {tid: ThreadRow(tid, subjects.get(tid, "")) for tid in thread_ids}
    for activity, row in zip(activities, _message_rows(session, activities), strict=True):
        threads[activity.thread_id].messages.append(row)
    for thread in threads.values():
        thread.messages.sort(key=_position)
    next_cursor = Position(found[-1][1], found[-1][0]).encode() if more else None
    return Page(list(threads.values()), next_cursor)
