"""Companies: create, prove the domain (DNS TXT), enable; roles and the capture permission (F7)."""

from __future__ import annotations

import re
import secrets

from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from connector.db import utcnow
from connector.errors import InputError, NotFound
from connector.models import USE_EMAIL_CAPTURE, Role, RolePermission, Tenant, User
from connector.services.dns_verify import TxtResolver, expected_record, verify_txt
from connector.services.mailboxes import follow_capture_switch

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_RESERVED = re.compile(r"^(notes|dropbox-.*|case-.*|opportunity-.*|task-.*|postmaster|abuse)$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def create_tenant(session: Session, name: str, slug: str, domain: str | None = None,
                  timezone: str = "UTC") -> Tenant:
    slug = slug.strip().lower()
    if not _SLUG.match(slug) or _RESERVED.match(slug):
        raise InputError(f"slug {slug!r} is not usable: letters, digits and dashes, not a reserved word")
    if session.exec(select(Tenant).where(Tenant.slug == slug)).first():
        raise InputError(f"a company with slug {slug!r} already exists")
    tenant = Tenant(name=name.strip(), slug=slug, timezone=timezone)
    session.add(tenant)
    session.flush()
    if domain:
        set_domain(session, tenant, domain)
    admin = Role(tenant_id=tenant.id, name="Administrator")
    session.add_all([admin, Role(tenant_id=tenant.id, name="Standard User")])
    session.flush()
    # An administrator files mail like anyone: promoting a user must not switch their capture off.
    session.add(RolePermission(role_id=admin.id, permission=USE_EMAIL_CAPTURE))
    session.flush()
    return tenant


def get_tenant(session: Session, slug: str) -> Tenant:
    tenant = session.exec(select(Tenant).where(Tenant.slug == slug.lower())).first()
    if tenant is None:
        raise NotFound(f"no company with slug {slug!r}")
    return tenant


def set_domain(session: Session, tenant: Tenant, domain: str) -> str:
    """Set (or change) the domain to prove; returns the TXT record to publish."""
    domain = domain.strip().lower().rstrip(".")
    if not _DOMAIN.match(domain):
        raise InputError(f"{domain!r} is not a domain name")
    tenant.domain = domain
    tenant.txt_token = secrets.token_urlsafe(24)
    tenant.verified_at = None
    tenant.enabled = False
    session.add(tenant)
    session.flush()
    return expected_record(tenant.txt_token)


def txt_record(tenant: Tenant) -> str:
    if not tenant.domain or not tenant.txt_token:
        raise InputError(f"company {tenant.slug!r} has no domain yet: set one first")
    return expected_record(tenant.txt_token)


def verify_domain(session: Session, tenant: Tenant, resolver: TxtResolver) -> None:
    """Mark the domain verified, or raise DnsVerificationError with what DNS said."""
    if not tenant.domain or not tenant.txt_token:
        raise InputError(f"company {tenant.slug!r} has no domain yet: set one first")
    verify_txt(resolver, tenant.domain, tenant.txt_token)
    tenant.verified_at = utcnow()
    session.add(tenant)
    session.flush()


def set_enabled(session: Session, tenant: Tenant, enabled: bool) -> None:
    if enabled and tenant.verified_at is None:
        raise InputError(f"verify the domain of {tenant.slug!r} before enabling email capture")
    tenant.enabled = enabled
    session.add(tenant)
    session.flush()
    _follow_capture_switch(session, select(User).where(User.tenant_id == tenant.id))


def get_role(session: Session, tenant: Tenant, name: str) -> Role:
    role = session.exec(select(Role).where(Role.tenant_id == tenant.id, Role.name == name)).first()
    if role is None:
        raise NotFound(f"company {tenant.slug!r} has no role {name!r}")
    return role


def grant(session: Session, role: Role, permission: str = USE_EMAIL_CAPTURE) -> None:
    if session.get(RolePermission, (role.id, permission)) is None:
        session.add(RolePermission(role_id=role.id, permission=permission))
        session.flush()
        _follow_capture_switch(session, select(User).where(User.role_id == role.id))


def revoke(session: Session, role: Role, permission: str = USE_EMAIL_CAPTURE) -> None:
    found = session.get(RolePermission, (role.id, permission))
    if found is not None:
        session.delete(found)
        session.flush()
        _follow_capture_switch(session, select(User).where(User.role_id == role.id))


def set_permission(session: Session, tenant: Tenant, role_id: int, granted: bool) -> Role:
    """Grant or revoke 'use email capture'; the role's users' mailboxes pause or resume with it."""
    role = session.get(Role, role_id)
    if role is None or role.tenant_id != tenant.id:
        raise NotFound(f"no role {role_id}")
    (grant if granted else revoke)(session, role)
    return role


def _follow_capture_switch(session: Session, users: SelectOfScalar[User]) -> None:
    """The company and permission switches pause or resume the mailboxes of the users they reach."""
    for user in session.exec(users).all():
        follow_capture_switch(session, user)
