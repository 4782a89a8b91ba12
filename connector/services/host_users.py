"""The host system keeps its people in step: create or update a user by its own id (`external_id`) with their
login address, name and role, deactivate ("archive") them, and read what changed since — the use cases behind
PUT/DELETE /api/v1/users/{external_id}.

Idempotent like records (services/host_records.py): `updated_at` moves only when a field changes, a user with
the same login and no external id yet is adopted. Role changes and deactivation go through the same services
as the console's (sessions end, capture follows the role, a company keeps an administrator).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from connector.errors import Conflict, InputError, NotFound
from connector.models import AuditEntry, Role, Tenant, User
from connector.services import users
from connector.services.host_records import checked_external_id
from connector.services.paging import Page, feed_page


@dataclass(frozen=True)
class UserFields:
    email: str
    name: str = ""
    role: str = "Standard User"  # a role of the company, by name (Administrator, Standard User, …)
    active: bool = True


@dataclass(frozen=True)
class SyncedUser:
    user: User
    created: bool
    changed: list[str] = field(default_factory=list)


def by_external_id(session: Session, tenant: Tenant, external_id: str) -> User:
    found = session.exec(select(User).where(User.tenant_id == tenant.id,
                                            User.external_id == external_id.strip())).first()
    if found is None:
        raise NotFound(f"no user with external id {external_id!r}")
    return found


def role_names(session: Session, tenant: Tenant) -> dict[int, str]:
    return {r.id: r.name for r in session.exec(select(Role).where(Role.tenant_id == tenant.id)) if r.id is not None}


def put_user(session: Session, tenant: Tenant, external_id: str, fields: UserFields, now: datetime,
             by: str) -> SyncedUser:
    """Create or update the user the host system calls ``external_id``."""
    external_id = checked_external_id(external_id)
    email = users.checked_email(fields.email)
    role = _role(session, tenant, fields.role)
    user = _existing(session, tenant, external_id, email)
    if user is None:
        user = users.create_user(session, tenant, email, fields.name.strip(), role=role.name)
        user.external_id, user.updated_at = external_id, now
        if not fields.active:
            users.set_active(session, tenant, user.id or 0, False)
        session.add(user)
        session.flush()
        _audit(session, user, "user_created", by, ["email", "name", "role", "active"])
        return SyncedUser(user, created=True, changed=["email", "name", "role", "active"])
    changed = _apply(session, tenant, user, fields, email, role)
    if user.external_id != external_id:
        user.external_id = external_id
        changed.append("external_id")  # adopted
    if changed:
        user.updated_at = now
        session.add(user)
        session.flush()
        _audit(session, user, "user_updated", by, changed)
    return SyncedUser(user, created=False, changed=changed)


def archive_user(session: Session, tenant: Tenant, external_id: str, now: datetime, by: str) -> SyncedUser:
    """Deactivate: signed out everywhere, capture paused, their logged mail kept."""
    user = by_external_id(session, tenant, external_id)
    if not user.active:
        return SyncedUser(user, created=False)
    users.set_active(session, tenant, user.id or 0, False)
    user.updated_at = now
    session.add(user)
    session.flush()
    _audit(session, user, "user_archived", by, ["active"])
    return SyncedUser(user, created=False, changed=["active"])


def changed_users(session: Session, tenant: Tenant, *, updated_since: datetime | None = None,
                  cursor: str | None = None, limit: int = 100) -> Page[User]:
    """The company's users oldest change first (`updated_at`, then id), one page after ``cursor``."""
    statement = select(User).where(User.tenant_id == tenant.id)
    if updated_since is not None:
        statement = statement.where(col(User.updated_at) >= updated_since)
    return feed_page(session, statement, col(User.updated_at), col(User.id), cursor, limit)


def _role(session: Session, tenant: Tenant, name: str) -> Role:
    role = session.exec(select(Role).where(Role.tenant_id == tenant.id, Role.name == name.strip())).first()
    if role is None:
        known = ", ".join(sorted(role_names(session, tenant).values()))
        raise InputError(f"no role {name!r} in this company: one of {known}")
    return role


def _existing(session: Session, tenant: Tenant, external_id: str, email: str) -> User | None:
    """The user with this external id, else the company's user with this login and no external id yet."""
    try:
        return by_external_id(session, tenant, external_id)
    except NotFound:
        pass
    holder = users.user_with_login(session, email)
    if holder is None:
        return None
    if holder.tenant_id != tenant.id or holder.external_id is not None:
        owner = f"external id {holder.external_id!r}" if holder.tenant_id == tenant.id else "another company"
        raise Conflict(f"{email} is already the login of {owner}")
    return holder


def _apply(session: Session, tenant: Tenant, user: User, fields: UserFields, email: str, role: Role) -> list[str]:
    changed = []
    if user.email != email:
        if users.user_with_login(session, email) is not None:
            raise Conflict(f"{email} is already another user's login")
        user.email = email
        users.end_sessions(session, user)  # a new login: whoever was signed in under the old one signs in again
        changed.append("email")
    if user.name != fields.name.strip():
        user.name = fields.name.strip()
        changed.append("name")
    if user.role_id != role.id:
        users.set_role(session, tenant, user.id or 0, role.id or 0)
        changed.append("role")
    if user.active != fields.active:
        users.set_active(session, tenant, user.id or 0, fields.active)
        changed.append("active")
    return changed


def _audit(session: Session, user: User, action: str, by: str, changed: list[str]) -> None:
    session.add(AuditEntry(tenant_id=user.tenant_id, action=action, reason="host_sync",
                           detail={"by": by, "user_id": user.id, "email": user.email,
                                   "external_id": user.external_id, "changed": changed}))
