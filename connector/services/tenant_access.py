"""Tenant-wide access: once an admin granted it, users who enable capture are connected at once.

Microsoft: admin consent for the application (client-credential tokens for the tenant). Google
Workspace: domain-wide delegation to the service account. Only users who enabled capture (with
the permission, in an enabled company) get a mailbox; switching capture off pauses it as usual.
"""

from __future__ import annotations

import json

from sqlmodel import Session, select

from connector.crypto import TokenCipher
from connector.errors import InputError
from connector.models import Mailbox, Tenant, User
from connector.routing.repository import SqlRepository
from connector.routing.senders import enablement_problem
from connector.services.mailboxes import connect


def grant_graph(session: Session, tenant: Tenant, graph_tenant_id: str, cipher: TokenCipher) -> int:
    """Record Microsoft admin consent; connect every user who already enabled capture. Returns how many."""
    if not graph_tenant_id.strip():
        raise InputError("Microsoft did not say which tenant consented")
    taken = session.exec(select(Tenant.id).where(Tenant.graph_tenant_id == graph_tenant_id.strip(),
                                                 Tenant.id != tenant.id)).first()
    if taken is not None:  # one organization's mailboxes are read for one company only
        raise InputError(f"Microsoft 365 tenant {graph_tenant_id.strip()} is already linked to another company")
    tenant.graph_tenant_id = graph_tenant_id.strip()
    session.add(tenant)
    session.flush()
    return _connect_enabled(session, tenant, cipher)


def set_gmail_domain_wide(session: Session, tenant: Tenant, enabled: bool, cipher: TokenCipher) -> int:
    tenant.gmail_domain_wide = enabled
    session.add(tenant)
    session.flush()
    return _connect_enabled(session, tenant, cipher) if enabled else 0


def connect_user(session: Session, user: User, cipher: TokenCipher) -> list[Mailbox]:
    """Connect ``user`` with the company's tenant-wide access, if any and if the user may capture."""
    tenant = session.get(Tenant, user.tenant_id)
    if tenant is None or enablement_problem(user, SqlRepository(session)) is not None:
        return []
    connected: list[Mailbox] = []
    if tenant.graph_tenant_id and not _has(session, user, "graph"):
        credentials = json.dumps({"tenant_id": tenant.graph_tenant_id})
        connected.append(connect(session, user, "graph", credentials, cipher, app_only=True))
    if tenant.gmail_domain_wide and not _has(session, user, "gmail"):
        connected.append(connect(session, user, "gmail", "", cipher, app_only=True))
    return connected


def _has(session: Session, user: User, provider: str) -> bool:
    statement = select(Mailbox.id).where(Mailbox.user_id == user.id, Mailbox.provider == provider)
    return session.exec(statement).first() is not None


def _connect_enabled(session: Session, tenant: Tenant, cipher: TokenCipher) -> int:
    users = session.exec(select(User).where(User.tenant_id == tenant.id, User.capture_enabled)).all()
    return sum(len(connect_user(session, user, cipher)) for user in users)
