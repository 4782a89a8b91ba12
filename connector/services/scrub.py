"""Finding and rewriting a person's traces in stored text: the address, its local part, their names.

`Identity` knows what identifies the person and what replaces it (a pseudonymous address
`erased-<token>@erased.invalid`, `[erased]` for names); `Place` names a table's columns that can hold
such text and how its rows belong to a company; `find_changes` reads the rows of one place that mention the
person and says what each becomes. The database preselects with a case-insensitive LIKE; the rewrite itself
is done here, so the same rules apply to plain text, JSON and every database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Table, Text, cast, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel

ERASED = "[erased]"
_WORD = "A-Za-z0-9"
_SEPARATOR = r"[\s,]+"  # "Zelda  Quist", "Quist, Zelda"


@dataclass(frozen=True)
class Identity:
    address: str
    names: tuple[str, ...]
    pseudonym: str

    @property
    def local_part(self) -> str:
        return self.address.partition("@")[0]

    @property
    def needles(self) -> tuple[str, ...]:
        """Lower-case strings whose presence makes a row worth reading: as stored, and as JSON escapes them."""
        plain = [self.address, self.local_part, *self.names]
        escaped = [json.dumps(n)[1:-1] for n in plain]
        return tuple(dict.fromkeys(n.lower() for n in plain + escaped if n))

    @cached_property
    def _patterns(self) -> list[tuple[re.Pattern[str], str]]:
        found = [(re.compile(re.escape(self.address), re.IGNORECASE), self.pseudonym)]
        for name in sorted(self.names, key=len, reverse=True):  # "Zelda Quist" before "Zelda"
            words = _SEPARATOR.join(re.escape(w) for w in name.split())
            found.append((re.compile(rf"(?<![{_WORD}]){words}(?![{_WORD}])", re.IGNORECASE), ERASED))
        found.append((re.compile(rf"(?<![{_WORD}]){re.escape(self.local_part)}(?![{_WORD}])", re.IGNORECASE),
                      ERASED))
        return found

    def scrub(self, value: Any) -> Any:
        """``value`` (text, or JSON: lists and objects, keys included) with every trace replaced."""
        if isinstance(value, str):
            for pattern, replacement in self._patterns:
                value = pattern.sub(replacement, value)
            return value
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        return value

    def found_in(self, content: bytes) -> bool:
        """Whether stored bytes (an original message, an attachment) carry the address or a name literally."""
        lowered = content.lower()
        wanted = [self.address, *self.names]
        return any(n.lower().encode(codec) in lowered for n in wanted if n for codec in ("utf-8", "utf-16-le"))


@dataclass(frozen=True)
class Place:
    """Columns of one table that can hold a person's traces, and how a row belongs to a company."""

    table: str
    text: tuple[str, ...]
    json: tuple[str, ...] = ()
    scope: str = "tenant"  # tenant | activity (through activity_id) | mailbox (through mailbox_id) | none | no_tenant
    guard: str = ""  # the column naming an activity (or thread) a legal hold protects


@dataclass
class Change:
    key: dict[str, Any]
    values: dict[str, Any]
    row: dict[str, Any] = field(default_factory=dict)


def table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


def _scope(place: Place, tenant_id: int) -> ColumnElement[bool] | None:
    t = table(place.table)
    if place.scope == "tenant":
        return t.c.tenant_id == tenant_id
    if place.scope == "activity":
        activity = table("activity")
        return t.c.activity_id.in_(select(activity.c.id).where(activity.c.tenant_id == tenant_id))
    if place.scope == "mailbox":
        mailbox = table("mailbox")
        return t.c.mailbox_id.in_(select(mailbox.c.id).where(mailbox.c.tenant_id == tenant_id))
    if place.scope == "no_tenant":
        return t.c.tenant_id.is_(None)
    return None


def find_changes(session: Session, place: Place, who: Identity, tenant_id: int,
                 protected: Callable[[dict[str, Any]], bool] = lambda row: False) -> list[Change]:
    """Every row of ``place`` in the company that mentions ``who``, with what its columns become."""
    t = table(place.table)
    columns = place.text + place.json
    mentions = or_(*(func.lower(cast(t.c[c], Text)).contains(n, autoescape=True) for c in columns
                     for n in who.needles))
    statement = select(t).where(mentions)
    if (scope := _scope(place, tenant_id)) is not None:
        statement = statement.where(scope)
    keys = [c.name for c in t.primary_key.columns]
    changes = []
    for found in session.execute(statement).mappings():
        row = dict(found)
        if protected(row):
            continue
        values = {c: who.scrub(row[c]) for c in columns if row[c] is not None}
        values = {c: v for c, v in values.items() if v != row[c]}
        if values:
            changes.append(Change({k: row[k] for k in keys}, values, row))
    return changes


def apply_changes(session: Session, name: str, changes: Iterable[Change]) -> int:
    t = table(name)
    count = 0
    for change in changes:
        where = [t.c[k] == v for k, v in change.key.items()]
        session.execute(update(t).where(*where).values(**change.values))
        count += 1
    return count
