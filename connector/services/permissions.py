"""Who may do what: administrators, whether capture is on for a user, the addresses a user may act as."""

from __future__ import annotations

from sqlmodel import Session, col, select

from connector.models import Role, SenderAddress, User
from connector.routing.decision import Reason
from connector.routing.repository import SqlRepository
from connector.routing.senders import enablement_problem

ADMIN_ROLE = "Administrator"


def is_admin(session: Session, user: User) -> bool:
    role = session.get(Role, user.role_id) if user.role_id else None
    return role is not None and role.name == ADMIN_ROLE


def capture_problem(session: Session, user: User) -> Reason | None:
    """Which of the three enablement levels stops capture for ``user`` (None: capture is on)."""
    return enablement_problem(user, SqlRepository(session))


def own_addresses(session: Session, user: User) -> set[str]:
    """The login address and the verified sender addresses: what a user may connect or act as."""
    verified = session.exec(select(SenderAddress.email).where(
        SenderAddress.user_id == user.id, col(SenderAddress.verified_at).is_not(None))).all()
    return {user.email, *verified}
