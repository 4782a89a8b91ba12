"""Who may file mail: three-level enablement (F7) and authorized sender addresses (F8, F17)."""

from __future__ import annotations

from connector.mail.envelope import Address
from connector.models import USE_EMAIL_CAPTURE, User
from connector.routing.decision import Reason
from connector.routing.repository import Repository


def enablement_problem(user: User, repo: Repository) -> Reason | None:
    """Which of the three levels stops ``user`` from capturing mail, if any (F7).

    Level 1: the company enabled capture after proving its domain; level 2: the user's role has
    the permission; level 3: the user switched it on for themselves.
    """
    tenant = repo.tenant(user.tenant_id)
    if not user.active:
        return Reason.USER_INACTIVE
    if tenant is None or tenant.verified_at is None:
        return Reason.DOMAIN_NOT_VERIFIED
    if not tenant.enabled:
        return Reason.TENANT_NOT_ENABLED
    if user.role_id is None or USE_EMAIL_CAPTURE not in repo.role_permissions(user.role_id):
        return Reason.NO_PERMISSION
    if not user.capture_enabled:
        return Reason.CAPTURE_DISABLED
    return None


def sending_user(sender: Address | None, tenant_id: int | None, repo: Repository) -> User | None:
    """The user of ``tenant_id`` whose login or verified extra address sent the mail (F8)."""
    if sender is None:
        return None
    if tenant_id is not None:  # one look-up, remembered with the message's other addresses
        return repo.tenant_users_by_address(tenant_id, [sender.email]).get(sender.email)
    user = repo.user_by_sender_address(sender.email)
    if user is None or (tenant_id is not None and user.tenant_id != tenant_id):
        return None
    return user
