"""Tenant-wide access: once an admin granted it, users who enable capture are connected at once.

Microsoft: admin consent for the application (client-credential tokens for the tenant). Google
Workspace: domain-wide delegation to the service account. Only users who enabled capture (with
the permission, in an enabled company) get a mailbox; switching capture off pauses it as usual.

Tenant-wide access reaches only the mail the organization holds: a user is connected only when their login
is in the company's verified domain and, for Microsoft, the tenant's directory has them. A colleague whose
mail lives elsewhere (a Gmail user in a Microsoft company) would otherwise get a mailbox failing forever.
"""

from __future__ import annotations

import json

from sqlmodel import Session, select

from connector.crypto import TokenCipher
from connector.errors import InputError, ProviderError
from connector.models import Mailbox, Tenant, User
from connector.ports import Directory
from connector.routing.repository import SqlRepository
from connector.routing.senders import enablement_problem
from connector.services.mailboxes import connect


def grant_graph(session: Session, tenant: Tenant, graph_tenant_id: str, cipher: TokenCipher,
                directory: Directory | None = None) -> int:
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
    return _connect_enabled(session, tenant, cipher, directory)


def set_gmail_domain_wide(session: Session, tenant: Tenant, enabled: bool, cipher: TokenCipher,
                          service_account_file: str | None = None) -> int:
    """Switch Google domain-wide delegation on or off; on needs the service account it is delegated to."""
    if enabled and not service_account_file:
        raise InputError("domain-wide delegation needs a Google service account: set gmail.service_account_file "
                         "in the settings (its key file) and authorize its client id in the Google Admin console")
    if enabled and not (tenant.domain and tenant.verified_at):
        raise InputError(f"verify the domain of {tenant.slug!r} first: delegation reaches that domain's users only")
    tenant.gmail_domain_wide = enabled
    session.add(tenant)
    session.flush()
    return _connect_enabled(session, tenant, cipher) if enabled else 0


def connect_user(session: Session, user: User, cipher: TokenCipher,
                 directory: Directory | None = None) -> list[Mailbox]:
    """Connect ``user`` with the company's tenant-wide access, if any, if the user may capture and if the
    organization holds their mailbox (``directory`` is asked for Microsoft, when there is one to ask)."""
    tenant = session.get(Tenant, user.tenant_id)
    if tenant is None or enablement_problem(user, SqlRepository(session)) is not None or not _in_domain(tenant, user):
        return []
    connected: list[Mailbox] = []
    if tenant.graph_tenant_id and not _has(session, user, "graph"):
        held = _held(directory, tenant.graph_tenant_id, user)
        if held is not None:
            credentials = json.dumps({"tenant_id": tenant.graph_tenant_id})
            connected.append(connect(session, user, "graph", credentials, cipher, provider_user_id=held,
                                     app_only=True))
    if tenant.gmail_domain_wide and not _has(session, user, "gmail"):
        connected.append(connect(session, user, "gmail", "", cipher, app_only=True))
    return connected


def _in_domain(tenant: Tenant, user: User) -> bool:
    return bool(tenant.domain and tenant.verified_at and user.email.rpartition("@")[2] == tenant.domain)


def _held(directory: Directory | None, graph_tenant_id: str, user: User) -> str | None:
    """The directory id of the user's Outlook mailbox ("" when nobody can be asked), None when there is none."""
    if directory is None:  # nobody to ask (tests of the flow, the emulated world): the domain decides
        return ""
    try:
        return directory.user_id(graph_tenant_id, user.email)
    except ProviderError as exc:
        raise InputError(f"could not ask Microsoft whether {user.email} has a mailbox there ({exc}): "
                         "nothing was connected, please try again") from exc


def _has(session: Session, user: User, provider: str) -> bool:
    statement = select(Mailbox.id).where(Mailbox.user_id == user.id, Mailbox.provider == provider)
    return session.exec(statement).first() is not None


def _connect_enabled(session: Session, tenant: Tenant, cipher: TokenCipher, directory: Directory | None = None) -> int:
    users = session.exec(select(User).where(User.tenant_id == tenant.id, User.capture_enabled)).all()
    return sum(len(connect_user(session, user, cipher, directory)) for user in users)
