"""Cursor paging for the API's lists: opaque cursors over a stable order, so a page never repeats or skips a
row when rows are added between pages.

A cursor is the position of the last row a page held — its sort value and its id, the tie-breaker — as
URL-safe base64 of JSON; the next page is what sorts after that position (keyset paging, no OFFSET). Rows
added meanwhile sort after every row already read (a change feed ordered by `updated_at`) or are simply on a
later page; none shifts an earlier row onto the page after.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from connector.errors import InputError

T = TypeVar("T")
MAX_LIMIT = 200


@dataclass(frozen=True)
class Position:
    at: datetime | None  # the sort value of the row (updated_at; a thread's latest message)
    id: int

    def encode(self) -> str:
        raw = json.dumps([self.at.isoformat() if self.at else None, self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> Position:
        try:
            at, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            if not isinstance(row_id, int) or isinstance(row_id, bool):
                raise TypeError(row_id)
            return cls(datetime.fromisoformat(at) if at is not None else None, row_id)
        except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
            raise InputError("the cursor is not one this API gave out: pass next_cursor back unchanged") from None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None  # None: this was the last page


def ascending_after(at_column: Any, id_column: Any, cursor: str | None) -> list[ColumnElement[bool]]:
    """The keyset condition for an ascending (at, id) order: rows after the cursor's position."""
    if not cursor:
        return []
    position = Position.decode(cursor)
    return [or_(at_column > position.at, and_(at_column == position.at, id_column > position.id))]


def checked_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit is 1 to {MAX_LIMIT}")
    return limit


def feed_page(session: Session, statement: SelectOfScalar[Any], at_column: Any, id_column: Any,
              cursor: str | None, limit: int) -> Page[Any]:
    """One page of ``statement`` in (at, id) order after ``cursor``; the next cursor when more rows follow."""
    rows = list(session.exec(statement.where(*ascending_after(at_column, id_column, cursor))
                             .order_by(at_column, id_column).limit(checked_limit(limit) + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    next_cursor = Position(getattr(last, at_column.key), last.id).encode() if more and last is not None else None
    return Page(rows, next_cursor)
