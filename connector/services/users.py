"""Users: create, enable capture (F7 level 3), the personal dropbox address and its vCard (F3),
authorized sender addresses (F8) and exclusion lists (F9)."""

from __future__ import annotations

import re
from datetime import datetime

import vobject
from sqlalchemy import update
from sqlmodel import Session, col, select

from connector.config import SearchPattern, Settings
from connector.db import utcnow
from connector.errors import InputError, NotFound
from connector.models import Exclusion, RetiredAddress, Role, SenderAddress, Tenant, User
from connector.routing.addresses import Action, action_address, new_token, personal_address
from connector.routing.decision import Reason
from connector.routing.repository import SqlRepository
from connector.routing.senders import enablement_problem
from connector.services import verification
from connector.services.mailboxes import follow_capture_switch
from connector.services.owned import company_row
from connector.services.permissions import ADMIN_ROLE
from connector.services.tenants import get_role

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise InputError(f"{value!r} is not an e-mail address")
    return value


def checked_email(value: str) -> str:
    """``value`` as a login address (lower case), or an InputError saying it is not one."""
    return _email(value)


def create_user(session: Session, tenant: Tenant, email: str, name: str = "", role: str = "Standard User",
                timezone: str = "UTC") -> User:
    email = _email(email)
    if session.exec(select(User).where(User.email == email)).first():
        raise InputError(f"a user with login {email} already exists")
    user = User(tenant_id=tenant.id, email=email, name=name, role_id=get_role(session, tenant, role).id,
                dropbox_token=new_token(), timezone=timezone)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, email: str, tenant: Tenant | None = None) -> User:
    """The user with login ``email`` (of ``tenant`` when given: another company's reads as missing)."""
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None or (tenant is not None and user.tenant_id != tenant.id):
        raise NotFound(f"no user with login {email}")
    return user


def user_with_login(session: Session, email: str) -> User | None:
    """The user whose login is exactly ``email`` (the address an identity provider vouched for), if any."""
    return session.exec(select(User).where(User.email == email)).first()


def active_user_and_tenant(session: Session, user_id: int, epoch: object) -> tuple[User, Tenant] | None:
    """A signed-in session's user and company; None once the user is deleted or deactivated, or the
    session was ended (its ``epoch`` is no longer the user's: signed out, role changed)."""
    user = session.get(User, user_id)
    tenant = session.get(Tenant, user.tenant_id) if user else None
    if user is None or tenant is None or not user.active or user.session_epoch != epoch:
        return None
    return user, tenant


def end_sessions(session: Session, user: User) -> None:
    """Every session of ``user``, in every browser, stops working at its next request."""
    session.exec(update(User).where(col(User.id) == user.id)  # type: ignore[call-overload]
                 .values(session_epoch=col(User.session_epoch) + 1))
    session.refresh(user)


def company_user(session: Session, tenant: Tenant, user_id: int) -> User:
    """A user of ``tenant`` by id; another company's reads like one that does not exist."""
    return company_row(session, User, user_id, tenant, "user")


def set_role(session: Session, tenant: Tenant, user_id: int, role_id: int) -> tuple[User, Role]:
    """Move a user to another role of the company; their sessions end and capture follows the role."""
    user, role = company_user(session, tenant, user_id), session.get(Role, role_id)
    if role is None or role.tenant_id != tenant.id:
        raise NotFound(f"no role {role_id}")
    if user.role_id != role.id:
        _keep_an_administrator(session, tenant, user)
        user.role_id = role.id
        session.add(user)
        session.flush()
        end_sessions(session, user)
        follow_capture_switch(session, user)
    return user, role


def set_active(session: Session, tenant: Tenant, user_id: int, active: bool) -> User:
    """Deactivate (signed out everywhere, capture paused) or reactivate a user; their sessions end either way,
    so a cookie from before a deactivation does not come back to life with the account."""
    user = company_user(session, tenant, user_id)
    if user.active != active:
        if not active:
            _keep_an_administrator(session, tenant, user)
        user.active = active
        session.add(user)
        session.flush()
        end_sessions(session, user)
        follow_capture_switch(session, user)
    return user


def _keep_an_administrator(session: Session, tenant: Tenant, leaving: User) -> None:
    admin_role = session.exec(select(Role).where(Role.tenant_id == tenant.id, Role.name == ADMIN_ROLE)).first()
    if admin_role is None or leaving.role_id != admin_role.id:
        return
    others = session.exec(select(User.id).where(User.role_id == admin_role.id, User.id != leaving.id,
                                                col(User.active))).first()
    if others is None:
        raise InputError(f"{leaving.email} is the company's last active administrator")


def set_capture(session: Session, user: User, enabled: bool) -> None:
    """Level 3 of F7. Enabling needs levels 1 and 2; the error names the level that is missing."""
    if enabled:
        problem = enablement_problem(user, SqlRepository(session))
        if problem not in (None, Reason.CAPTURE_DISABLED):
            raise InputError(f"cannot enable capture for {user.email}: {explain(problem)}")
    user.capture_enabled = enabled
    session.add(user)
    session.flush()
    follow_capture_switch(session, user)


def explain(reason: Reason | None) -> str:
    """A sentence for a person saying which level of F7 is missing."""
    if reason is None:
        return "email capture is on"
    return {
        "domain_not_verified": "the company has not verified its domain (level 1)",
        "tenant_not_enabled": "the company has not enabled email capture (level 1)",
        "role_lacks_permission": "the user's role lacks the 'use email capture' permission (level 2)",
        "user_capture_disabled": "the user has not enabled email capture for themselves (level 3)",
        "user_inactive": "the user is deactivated",
    }.get(reason.value, reason.value)


def dropbox_address(user: User, settings: Settings) -> str:
    return personal_address(user.dropbox_token, settings.dropbox.domains[0])


def action_addresses(user: User, settings: Settings) -> dict[str, str]:
    return {a.value: action_address(a, user.dropbox_token, settings.dropbox.domains[0]) for a in Action}


def regenerate_address(session: Session, user: User) -> str:
    """A new personal token; the old one (and its action addresses) is retired and refused (F3, F17)."""
    session.add(RetiredAddress(token=user.dropbox_token, user_id=user.id))
    user.dropbox_token = new_token()
    session.add(user)
    session.flush()
    return user.dropbox_token


def vcard(user: User, settings: Settings) -> str:
    card = vobject.vCard()
    card.add("fn").value = f"Email dropbox ({user.name or user.email})"
    card.add("n").value = vobject.vcard.Name(family="Email dropbox", given=user.name or user.email)
    email = card.add("email")
    email.value = dropbox_address(user, settings)
    email.type_param = "INTERNET"
    card.add("note").value = "Bcc this address to file an e-mail in the system of record."
    return card.serialize()


def set_search_pattern(session: Session, user: User, pattern: str, create_as: str | None = None) -> None:
    user.search_pattern = SearchPattern(pattern).value
    if create_as is not None:
        if create_as not in ("contact", "lead"):
            raise InputError("create_as must be 'contact' or 'lead'")
        user.create_as = create_as
    session.add(user)
    session.flush()


# --------------------------------------------------------------------------- sender addresses (F8)
def add_sender(session: Session, user: User, email: str, settings: Settings,
               now: datetime | None = None) -> tuple[SenderAddress, str]:
    """Register an extra address (or issue a new code for one waiting); returns it with the code to send it.

    Whether the address is some other user's, in this company or another, is not said here: every
    address gets the same answer and a code. Only someone who can read that mailbox learns more, at
    `verify_sender`.
    """
    email = _email(email)
    if email == user.email:
        raise InputError(f"{email} is the login address, which is always authorized")
    rows = session.exec(select(SenderAddress).where(SenderAddress.user_id == user.id)).all()
    row = next((r for r in rows if r.email == email), None)
    if row is not None and row.verified_at is not None:
        raise InputError(f"{email} is already on the list")
    if row is None and len(rows) >= settings.senders.max_extra_addresses:
        raise InputError(f"at most {settings.senders.max_extra_addresses} extra sender addresses per user")
    row = row or SenderAddress(user_id=user.id, email=email)
    code = verification.issue(user, row, now or utcnow())
    session.add_all([user, row])
    session.flush()
    return row, code


def verify_sender(session: Session, user: User, email: str, code: str, now: datetime | None = None) -> None:
    row = session.exec(select(SenderAddress).where(
        SenderAddress.user_id == user.id, SenderAddress.email == email.strip().lower())).first()
    if row is None:
        raise NotFound(f"{email} is not on {user.email}'s list")
    if row.verified_at is not None:
        return
    verification.check(session, row, code, now or utcnow())
    taken = session.exec(select(SenderAddress.id).where(
        SenderAddress.email == row.email, col(SenderAddress.verified_at).is_not(None))).first()
    if taken is not None or session.exec(select(User.id).where(User.email == row.email)).first() is not None:
        raise InputError(f"{row.email} already belongs to another user")
    row.verified_at = now or utcnow()
    session.add(row)
    session.flush()


def remove_sender(session: Session, user: User, email: str) -> None:
    row = session.exec(select(SenderAddress).where(
        SenderAddress.user_id == user.id, SenderAddress.email == email.strip().lower())).first()
    if row is None:
        raise NotFound(f"{email} is not on {user.email}'s list")
    session.delete(row)
    session.flush()


def senders(session: Session, user: User) -> list[SenderAddress]:
    return list(session.exec(select(SenderAddress).where(SenderAddress.user_id == user.id)))


# --------------------------------------------------------------------------- exclusions (F9)
def _pattern(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("@") and "." in value:
        return value
    return _email(value)


def add_exclusion(session: Session, tenant: Tenant, pattern: str, user: User | None = None) -> Exclusion:
    pattern = _pattern(pattern)
    found = session.exec(select(Exclusion).where(
        Exclusion.tenant_id == tenant.id, Exclusion.pattern == pattern,
        Exclusion.user_id == (user.id if user else None))).first()
    if found is not None:
        return found
    row = Exclusion(tenant_id=tenant.id, user_id=user.id if user else None, pattern=pattern)
    session.add(row)
    session.flush()
    return row


def remove_exclusion(session: Session, tenant: Tenant, pattern: str, user: User | None = None) -> None:
    rows = session.exec(select(Exclusion).where(
        Exclusion.tenant_id == tenant.id, Exclusion.pattern == _pattern(pattern),
        Exclusion.user_id == (user.id if user else None))).all()
    if not rows:
        raise NotFound(f"{pattern} is not on the exclusion list")
    for row in rows:
        session.delete(row)
    session.flush()


def exclusions_applying_to(session: Session, tenant: Tenant, user: User) -> list[Exclusion]:
    """The user's own exclusions and the company's, by pattern: every address never treated as a contact."""
    return list(session.exec(select(Exclusion).where(
        Exclusion.tenant_id == tenant.id, col(Exclusion.user_id).in_([user.id, None]))
        .order_by(col(Exclusion.pattern))))


def company_exclusions(session: Session, tenant: Tenant) -> list[Exclusion]:
    """The exclusions that apply to everyone in the company, by pattern."""
    return list(session.exec(select(Exclusion).where(
        Exclusion.tenant_id == tenant.id, col(Exclusion.user_id).is_(None)).order_by(col(Exclusion.pattern))))
