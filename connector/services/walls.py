"""Ethical walls: an administrator keeps a user away from a matter, project or contact (or any record).

A walled user never sees the record or any mail filed under it or with it, anywhere (the filter is
`connector/services/visibility.py`), and mail they send there is refused as `walled_record`
(`connector/routing/privacy.py`). Adding and removing a wall is audited (`wall.added`, `wall.removed`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from connector.errors import InputError, NotFound
from connector.models import AuditEntry, Record, RecordKind, Tenant, User, Wall
from connector.services.records import find_record, person


@dataclass(frozen=True)
class WallRow:
    wall: Wall
    record: Record
    user: User


def find_target(session: Session, tenant: Tenant, which: str) -> Record:
    """The record a wall is put on: ``matter:10802``, ``project:1001``, ``contact:carol@clientco.com``, ``#17`` (a
    record id); a bare address is that contact (or lead), a bare number that matter."""
    text = which.strip()
    if text.startswith("#") and text[1:].isdigit():
        found = session.get(Record, int(text[1:]))
        if found is None or found.tenant_id != tenant.id:
            raise NotFound(f"no record {text}")
        return found
    kind, colon, key = text.partition(":")
    if not colon:
        kind, key = ("contact" if "@" in text else "matter"), text
    kind, key = kind.strip().lower(), key.strip()
    if kind in (RecordKind.CONTACT, RecordKind.LEAD):
        return person(session, tenant, key)
    if kind not in {k.value for k in RecordKind}:
        raise InputError(f"name the record as matter:NUMBER, project:NUMBER, contact:ADDRESS or #ID, not {which!r}")
    record = find_record(session, tenant, RecordKind(kind), key)
    if record is None:
        raise NotFound(f"no {kind} {key}")
    return record


def _user(session: Session, tenant: Tenant, email: str) -> User:
    user = session.exec(select(User).where(User.tenant_id == tenant.id, User.email == email.strip().lower())).first()
    if user is None:
        raise NotFound(f"no user {email.strip()} in this company")
    return user


def add_wall(session: Session, tenant: Tenant, which: str, user_email: str, *, by: str, reason: str = "") -> WallRow:
    record = find_target(session, tenant, which)
    user = _user(session, tenant, user_email)
    if session.exec(select(Wall).where(Wall.record_id == record.id, Wall.user_id == user.id)).first() is not None:
        raise InputError(f"{user.email} is already walled from {record.kind} {record.label}")
    wall = Wall(tenant_id=tenant.id, record_id=record.id, user_id=user.id, created_by=by, reason=reason.strip()[:500])
    session.add(wall)
    session.flush()
    _audit(session, tenant, "wall.added", wall, record, user, by)
    return WallRow(wall, record, user)


def remove_wall(session: Session, tenant: Tenant, wall_id: int, *, by: str) -> WallRow:
    row = get_wall(session, tenant, wall_id)
    _audit(session, tenant, "wall.removed", row.wall, row.record, row.user, by)
    session.delete(row.wall)
    session.flush()
    return row


def get_wall(session: Session, tenant: Tenant, wall_id: int) -> WallRow:
    wall = session.get(Wall, wall_id)
    record = session.get(Record, wall.record_id) if wall is not None else None
    user = session.get(User, wall.user_id) if wall is not None else None
    if wall is None or wall.tenant_id != tenant.id or record is None or user is None:
        raise NotFound(f"no wall {wall_id}")
    return WallRow(wall, record, user)


def list_walls(session: Session, tenant: Tenant) -> list[WallRow]:
    rows = session.exec(select(Wall, Record, User).join(Record, col(Record.id) == col(Wall.record_id))
                        .join(User, col(User.id) == col(Wall.user_id)).where(Wall.tenant_id == tenant.id)
                        .order_by(col(Record.kind), col(Record.number), col(User.email)))
    return [WallRow(wall, record, user) for wall, record, user in rows]


def _audit(session: Session, tenant: Tenant, action: str, wall: Wall, record: Record, user: User, by: str) -> None:
    session.add(AuditEntry(tenant_id=tenant.id, action=action, reason=record.kind,
                           detail={"by": by, "wall_id": wall.id, "record_id": record.id,
                                   "record": f"{record.kind} {record.label}", "user": user.email,
                                   "why": wall.reason}))
