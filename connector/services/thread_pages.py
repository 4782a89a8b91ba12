"""Pages of threads, newest first, by keyset: a page starts after (or before) the thread a link names.

A thread's place is its latest matching message's sent time, then its id (a thread whose messages carry no
date comes last). The "older" link of a page names its last thread and the "newer" link its first, so
following them reads the next fifty threads by index, whatever the page number; only a page number typed
into the address bar (``?page=N``) is found by counting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_
from sqlmodel import Session, col, select

from connector.db import UTCDateTime
from connector.models import Activity

_UNDATED = datetime(1970, 1, 1, tzinfo=UTC)  # sorts after every dated thread, newest first
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Cursor:
    """A thread's place in the order; its token is what a page link carries."""

    latest: datetime
    thread_id: int

    @property
    def token(self) -> str:
        return f"{(self.latest - _UNDATED) // _MICROSECOND}.{self.thread_id}"  # exact: no float on the way

    @classmethod
    def parse(cls, token: str) -> Cursor | None:
        """The cursor a link carried, or None for anything else (a hand-edited address starts at the top)."""
        micros, _, thread = token.partition(".")
        try:
            return cls(_UNDATED + int(micros) * _MICROSECOND, int(thread))
        except (ValueError, OverflowError, OSError):
            return None


@dataclass(frozen=True)
class ThreadPage:
    thread_ids: list[int]
    newer: str | None  # the token of the page before, if there is one
    older: str | None  # the token of the page after, if there is one
    page: int
    pages: int
    messages: int  # every matching message, on all pages


def thread_page(session: Session, where: Sequence[ColumnElement[bool]], *, page: int = 1, after: str = "",
                before: str = "", page_size: int | None = 50) -> ThreadPage:
    """The threads of one page among the activities ``where`` selects (``page_size`` None: every thread).

    One pass over the matching mail: the threads' order and the totals (window functions over the groups) come
    from the same query; only a page with no thread on it counts again."""
    latest = func.coalesce(func.max(Activity.sent_at), literal(_UNDATED, UTCDateTime()))
    grouped = (select(col(Activity.thread_id).label("thread_id"), latest.label("latest"),
                      func.count().over().label("threads"), func.sum(func.count()).over().label("messages"))
               .where(*where).group_by(col(Activity.thread_id)).subquery())
    t = grouped.c
    keyed: Select[Any] = select(t.thread_id, t.latest, t.threads, t.messages)
    newest_first = (t.latest.desc(), t.thread_id.desc())
    if page_size is None:
        rows = list(session.exec(keyed.order_by(*newest_first)))  # type: ignore[call-overload]
        return ThreadPage([r[0] for r in rows], None, None, 1, 1, int(rows[0][3]) if rows else 0)
    start, end = Cursor.parse(after), Cursor.parse(before)
    if end is not None:  # the page before ``end``: read upwards, then turn it round
        rows = list(session.exec(keyed.where(_beyond(t, end, newer=True))  # type: ignore[call-overload]
                                 .order_by(t.latest.asc(), t.thread_id.asc()).limit(page_size + 1)))
        more_before, rows = len(rows) > page_size, rows[:page_size][::-1]
        return _page(session, where, rows, more_before, True, page, page_size)
    if start is not None:
        rows = list(session.exec(keyed.where(_beyond(t, start, newer=False))  # type: ignore[call-overload]
                                 .order_by(*newest_first).limit(page_size + 1)))
        return _page(session, where, rows[:page_size], True, len(rows) > page_size, max(page, 2), page_size)
    page = max(page, 1)
    rows = list(session.exec(keyed.order_by(*newest_first)  # type: ignore[call-overload]
                             .limit(page_size + 1).offset((page - 1) * page_size)))
    if not rows and page > 1:  # past the end (a typed page number): the last page
        threads = _totals(session, where)[1]
        return thread_page(session, where, page=max(1, -(-threads // page_size)), page_size=page_size)
    return _page(session, where, rows[:page_size], page > 1, len(rows) > page_size, page, page_size)


def _totals(session: Session, where: Sequence[ColumnElement[bool]]) -> tuple[int, int]:
    """(messages, threads) among the activities ``where`` selects."""
    messages, threads = session.exec(select(func.count(col(Activity.id)),  # type: ignore[call-overload]
                                            func.count(func.distinct(Activity.thread_id))).where(*where)).one()
    return int(messages), int(threads)


def _beyond(t: Any, cursor: Cursor, *, newer: bool) -> ColumnElement[bool]:
    """Threads after ``cursor`` in the order (older), or before it (newer)."""
    if newer:
        return or_(t.latest > cursor.latest, and_(t.latest == cursor.latest, t.thread_id > cursor.thread_id))
    return or_(t.latest < cursor.latest, and_(t.latest == cursor.latest, t.thread_id < cursor.thread_id))


def _page(session: Session, where: Sequence[ColumnElement[bool]], rows: list[Any], has_newer: bool,
          has_older: bool, page: int, page_size: int) -> ThreadPage:
    messages, threads = (int(rows[0][3]), int(rows[0][2])) if rows else _totals(session, where)
    pages = max(1, -(-threads // page_size))
    first, last = (Cursor(_aware(rows[0][1]), rows[0][0]), Cursor(_aware(rows[-1][1]), rows[-1][0])) if rows \
        else (None, None)
    return ThreadPage([r[0] for r in rows], first.token if has_newer and first else None,
                      last.token if has_older and last else None, max(1, min(page, pages)), pages, messages)


def _aware(moment: datetime | str) -> datetime:
    """max() of a date column comes back as text on SQLite (SQL functions lose the column's type there)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


__all__ = ["Cursor", "ThreadPage", "thread_page"]
