"""Per-tenant API tokens for the JSON API (`Authorization: Bearer bcc_…`).

A token is shown once, when it is created; only its SHA-256 is stored. The tokens are 256 random
bits, so a fast hash is enough: nobody can brute-force the preimage, and look-up stays one index hit.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from connector.db import utcnow
from connector.errors import InputError
from connector.models import ApiToken, Tenant
from connector.services.owned import company_row

TOKEN_PREFIX = "bcc_"
_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is informative: don't write on every call


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, tenant: Tenant, name: str, created_by: str = "") -> tuple[ApiToken, str]:
    """A new token for ``tenant``; returns the row and the token itself (never stored)."""
    name = name.strip()
    if not name or len(name) > 80:
        raise InputError("give the token a name of 1 to 80 characters (what will use it?)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(tenant_id=tenant.id, name=name, token_hash=_hash(token), hint=token[:10], created_by=created_by)
    session.add(row)
    session.flush()
    return row, token


def authenticate(session: Session, presented: str, now: datetime | None = None) -> ApiToken | None:
    """The live token matching ``presented``, or None."""
    if not presented.startswith(TOKEN_PREFIX):
        return None
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == _hash(presented))).first()
    if row is None or row.revoked_at is not None:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
        row.last_used_at = now
        session.add(row)
        session.flush()
    return row


def tenant_for_token(session: Session, presented: str, now: datetime | None = None) -> tuple[Tenant, ApiToken] | None:
    """The company a live token belongs to, with the token; None for anything else."""
    token = authenticate(session, presented, now)
    tenant = session.get(Tenant, token.tenant_id) if token else None
    if token is None or tenant is None:
        return None
    return tenant, token


def list_tokens(session: Session, tenant: Tenant) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).where(ApiToken.tenant_id == tenant.id).order_by(col(ApiToken.id))))


def revoke_token(session: Session, tenant: Tenant, token_id: int) -> ApiToken:
    row = company_row(session, ApiToken, token_id, tenant, "API token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()
    return row
