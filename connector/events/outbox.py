"""The transactional outbox: an event is a row written in the same transaction as the change it reports.

So a host system hears of an activity exactly when the activity committed: a rolled-back filing sends
nothing, a committed one is never lost (the worker delivers the row later, at least once). Only events some
active endpoint of the company wants are written; a company without endpoints pays one indexed look-up per
transaction (per batch for the bulk writer), nothing more.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, select
from sqlmodel import Session

from connector.db import utcnow
from connector.models import EventOutbox, Record, WebhookEndpoint


class EventType(StrEnum):
    ACTIVITY_LOGGED = "activity.logged"  # an e-mail was filed (once per message, not per copy)
    ACTIVITY_UNLOGGED = "activity.unlogged"  # taken off its records by a user or the API
    UNASSIGNED_CREATED = "unassigned.created"  # mail matched no contact and waits to be linked
    MAILBOX_NEEDS_RECONNECT = "mailbox.needs_reconnect"  # the grant was revoked: nothing syncs until reconnected
    MESSAGE_QUARANTINED = "message.quarantined"  # held back with its reason (a forged From, unreadable MIME)
    RECORD_CREATED = "record.created"  # filing created a contact, lead, case, opportunity or task


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def wanted_types(connection: Connection, tenant_id: int) -> frozenset[str]:
    """The event types some active endpoint of the company subscribed to (an empty list means every type)."""
    table = WebhookEndpoint.__table__  # type: ignore[attr-defined]
    wanted: set[str] = set()
    for (types,) in connection.execute(select(table.c.event_types).where(table.c.tenant_id == tenant_id,
                                                                         table.c.active.is_(True))):
        wanted |= set(types) if types else set(EventType)
    return frozenset(wanted)


def emit(session: Session, tenant_id: int | None, event_type: EventType, data: dict[str, Any]) -> str | None:
    """Add the event to the caller's transaction if anybody wants it; its id (the Webhook-Id), or None."""
    if tenant_id is None or event_type not in wanted_types(session.connection(), tenant_id):
        return None
    row = EventOutbox(id=new_event_id(), tenant_id=tenant_id, type=event_type.value, payload=jsonable(data))
    session.add(row)
    return row.id


class OutboxRows:
    """Events for writers that INSERT rows themselves (the bulk writer): the wanted types asked once per company."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._wanted: dict[int, frozenset[str]] = {}

    def row(self, tenant_id: int, event_type: EventType, data: dict[str, Any]) -> dict[str, Any] | None:
        if tenant_id not in self._wanted:
            self._wanted[tenant_id] = wanted_types(self.connection, tenant_id)
        if event_type not in self._wanted[tenant_id]:
            return None
        return {"id": new_event_id(), "tenant_id": tenant_id, "type": event_type.value, "payload": jsonable(data),
                "created_at": utcnow(), "dispatched_at": None}

    def describe_records(self, rows: Iterable[dict[str, Any]]) -> None:
        """Fill in the records events name by id (``payload["records"]``) with what a host system matches them
        by (kind, number, external id): one query for the whole batch."""
        rows = list(rows)
        ids = {r["id"] for row in rows for r in row["payload"].get("records", ())}
        if not ids:
            return
        table = Record.__table__  # type: ignore[attr-defined]
        known = {found.id: found for found in self.connection.execute(
            select(table.c.id, table.c.kind, table.c.number, table.c.external_id).where(table.c.id.in_(ids)))}
        for row in rows:
            for ref in row["payload"].get("records", ()):
                if (found := known.get(ref["id"])) is not None:
                    ref.update(kind=found.kind, number=found.number, external_id=found.external_id)


def jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """Datetimes as ISO 8601 (the payload is a JSON column and goes out as JSON)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}
