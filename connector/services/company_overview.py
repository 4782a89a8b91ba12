"""What the administration pages list: users with their role, capture state and mailboxes; roles with the
capture permission; how many mailboxes are read with tenant-wide access."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from connector.models import USE_EMAIL_CAPTURE, Mailbox, Role, RolePermission, Tenant, User
from connector.routing.decision import Reason
from connector.services import mailboxes
from connector.services.mailboxes import Health
from connector.services.permissions import capture_problem


@dataclass(frozen=True)
class UserRow:
    user: User
    role: str
    problem: Reason | None
    mailboxes: list[Health]


def users_overview(session: Session, tenant: Tenant) -> list[UserRow]:
    roles = {r.id: r.name for r in session.exec(select(Role).where(Role.tenant_id == tenant.id))}
    health = mailboxes.all_health(session, tenant.id)
    owners = {m.id: m.user_id for m in session.exec(select(Mailbox).where(Mailbox.tenant_id == tenant.id))}
    rows = []
    for user in session.exec(select(User).where(User.tenant_id == tenant.id).order_by(col(User.email))):
        mine = [h for h in health if owners.get(h.mailbox_id) == user.id]
        rows.append(UserRow(user, roles.get(user.role_id, ""), capture_problem(session, user), mine))
    return rows


@dataclass(frozen=True)
class RoleRow:
    role: Role
    can_capture: bool
    members: int


def roles_overview(session: Session, tenant: Tenant) -> list[RoleRow]:
    rows = []
    for role in session.exec(select(Role).where(Role.tenant_id == tenant.id).order_by(col(Role.name))):
        granted = session.get(RolePermission, (role.id, USE_EMAIL_CAPTURE)) is not None
        members = len(session.exec(select(User.id).where(User.role_id == role.id)).all())
        rows.append(RoleRow(role, granted, members))
    return rows


def app_only_mailboxes(session: Session, tenant: Tenant) -> dict[str, int]:
    """How many mailboxes per provider are read with tenant-wide access."""
    counts: dict[str, int] = {}
    for mailbox in session.exec(select(Mailbox).where(Mailbox.tenant_id == tenant.id, col(Mailbox.app_only))):
        counts[mailbox.provider] = counts.get(mailbox.provider, 0) + 1
    return counts
