"""Use cases of the web console and the JSON API that the CLI does not need.

Every look-up takes the tenant and answers NotFound for another tenant's ids, so a guessed id in a
URL reads exactly like one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, or_, select

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import utcnow
from connector.errors import InputError, NotFound
from connector.models import (
    Activity,
    Attachment,
    AuditEntry,
    Blob,
    Mailbox,
    Record,
    RecordKind,
    Role,
    RolePermission,
    SenderAddress,
    Tenant,
    Unassigned,
    User,
)
from connector.routing.addresses import company_address, matter_address, project_address
from connector.routing.decision import Reason
from connector.routing.repository import SqlRepository
from connector.routing.senders import enablement_problem
from connector.services import mailboxes, tenants
from connector.services.mailboxes import Health

ADMIN_ROLE = "Administrator"

# Why a mail was not logged, in words (the audit shows both the code and this).
REASON_TEXT: dict[str, str] = {
    Reason.NO_MATCHING_CONTACT.value: "no recipient is a known contact",
    Reason.NO_CONTACT_ADDRESS.value: "the mail names no contact address",
    Reason.NOT_RELEVANT.value: "the mail is not addressed to a dropbox and not in a logged thread",
    Reason.UNKNOWN_ADDRESS.value: "the dropbox address does not exist",
    Reason.RETIRED_ADDRESS.value: "the personal address was regenerated; the old one no longer works",
    Reason.UNKNOWN_MAILBOX.value: "the mailbox is not connected",
    Reason.UNKNOWN_MATTER.value: "no matter has this number",
    Reason.UNKNOWN_PROJECT.value: "no project has this number",
    Reason.UNAUTHORIZED_SENDER.value: "the sender is not an authorized address of a user",
    Reason.TENANT_NOT_ENABLED.value: "the company has not enabled email capture",
    Reason.DOMAIN_NOT_VERIFIED.value: "the company has not verified its domain",
    Reason.NO_PERMISSION.value: "the user's role lacks the 'use email capture' permission",
    Reason.CAPTURE_DISABLED.value: "the user has switched email capture off",
    Reason.USER_INACTIVE.value: "the user is deactivated",
    Reason.MISSING_SUBJECT.value: "the mail has no subject (a subject is required)",
    Reason.NO_USER.value: "no user of the company sent or received it",
    "by_user": "removed from the record by a user",
}


# ------------------------------------------------------------------------------------------ people
def is_admin(session: Session, user: User) -> bool:
    role = session.get(Role, user.role_id) if user.role_id else None
    return role is not None and role.name == ADMIN_ROLE


def capture_problem(session: Session, user: User) -> Reason | None:
    return enablement_problem(user, SqlRepository(session))


def own_addresses(session: Session, user: User) -> set[str]:
    """The login address and the verified sender addresses: what a user may connect or act as."""
    verified = session.exec(select(SenderAddress.email).where(
        SenderAddress.user_id == user.id, col(SenderAddress.verified_at).is_not(None))).all()
    return {user.email, *verified}


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


# ----------------------------------------------------------------------------------------- company
@dataclass(frozen=True)
class RoleRow:
    role: Role
    can_capture: bool
    members: int


def roles_overview(session: Session, tenant: Tenant) -> list[RoleRow]:
    rows = []
    for role in session.exec(select(Role).where(Role.tenant_id == tenant.id).order_by(col(Role.name))):
        granted = session.get(RolePermission, (role.id, "use_email_capture")) is not None
        members = len(session.exec(select(User.id).where(User.role_id == role.id)).all())
        rows.append(RoleRow(role, granted, members))
    return rows


def set_permission(session: Session, tenant: Tenant, role_id: int, granted: bool) -> Role:
    """Grant or revoke 'use email capture'; the role's users' mailboxes pause or resume with it."""
    role = session.get(Role, role_id)
    if role is None or role.tenant_id != tenant.id:
        raise NotFound(f"no role {role_id}")
    (tenants.grant if granted else tenants.revoke)(session, role)
    return role


def app_only_mailboxes(session: Session, tenant: Tenant) -> dict[str, int]:
    """How many mailboxes per provider are read with tenant-wide access."""
    counts: dict[str, int] = {}
    for mailbox in session.exec(select(Mailbox).where(Mailbox.tenant_id == tenant.id, col(Mailbox.app_only))):
        counts[mailbox.provider] = counts.get(mailbox.provider, 0) + 1
    return counts


# --------------------------------------------------------------------------------------- mailboxes
def connect_mailbox(session: Session, user: User, provider: str, address: str, credentials: str,
                    cipher: TokenCipher, provider_user_id: str = "") -> Mailbox:
    """Keep a completed consent, refusing mailboxes that are not the user's to connect."""
    address = address.strip().lower()
    if address not in own_addresses(session, user):
        raise InputError(f"you signed in as {address}, which is neither your login address nor a verified "
                         "sender address: connect your own mailbox, or add and verify that address first")
    taken = session.exec(select(Mailbox).where(Mailbox.provider == provider, Mailbox.address == address)).first()
    if taken is not None and taken.user_id != user.id:
        raise InputError(f"the mailbox {address} is already connected by another user")
    return mailboxes.connect(session, user, provider, credentials, cipher, address=address,
                             provider_user_id=provider_user_id)


def own_mailbox(session: Session, user: User, mailbox_id: int) -> Mailbox:
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is None or mailbox.user_id != user.id:
        raise NotFound(f"no mailbox {mailbox_id}")
    return mailbox


# ----------------------------------------------------------------------------------------- records
def get_record(session: Session, tenant: Tenant, record_id: int) -> Record:
    record = session.get(Record, record_id)
    if record is None or record.tenant_id != tenant.id:
        raise NotFound(f"no record {record_id}")
    return record


def find_records(session: Session, tenant: Tenant, kind: str | None = None, query: str = "",
                 limit: int = 200) -> list[Record]:
    statement = select(Record).where(Record.tenant_id == tenant.id)
    if kind:
        if kind not in {k.value for k in RecordKind}:
            raise InputError(f"unknown record kind {kind!r}")
        statement = statement.where(Record.kind == kind)
    if query.strip():
        like = f"%{query.strip().lower()}%"
        statement = statement.where(or_(
            col(Record.title).ilike(like), col(Record.number).ilike(like), col(Record.email).ilike(like),
            col(Record.last_name).ilike(like), col(Record.first_name).ilike(like)))
    return list(session.exec(statement.order_by(col(Record.kind), col(Record.number), col(Record.id)).limit(limit)))


@dataclass(frozen=True)
class RecordAddress:
    address: str | None  # Bcc this to file mail under the record
    hint: str


def record_address(record: Record, tenant: Tenant, settings: Settings) -> RecordAddress:
    domain, schemes = settings.dropbox.domains[0], settings.dropbox.schemes
    if record.kind == RecordKind.MATTER and record.number and schemes.matter:
        return RecordAddress(matter_address(tenant.slug, record.number, domain), "Bcc it to file mail here.")
    if record.kind == RecordKind.PROJECT and record.number and schemes.project:
        return RecordAddress(project_address(tenant.slug, record.number, domain),
                             "Bcc it to file mail here; attachments become files of the project.")
    if record.kind in (RecordKind.CONTACT, RecordKind.LEAD) and schemes.shared:
        shared = f"{settings.dropbox.shared_local_parts[0]}@{domain}"
        return RecordAddress(shared, "Bcc the shared address: mail is filed under every known contact in To/Cc.")
    if record.kind in (RecordKind.CASE, RecordKind.OPPORTUNITY) and record.number:
        return RecordAddress(None, f"Put #{record.number} in the subject when you Bcc your personal address.")
    if record.kind == RecordKind.CUSTOMER and schemes.company:
        return RecordAddress(company_address(tenant.slug, domain),
                             "Mail with this customer's contacts is linked here automatically.")
    return RecordAddress(None, "")


def get_activity(session: Session, tenant: Tenant, activity_id: int) -> Activity:
    activity = session.get(Activity, activity_id)
    if activity is None or activity.tenant_id != tenant.id or activity.unlogged_at is not None:
        raise NotFound(f"no logged e-mail {activity_id}")
    return activity


def get_unassigned(session: Session, tenant: Tenant, unassigned_id: int) -> Unassigned:
    row = session.get(Unassigned, unassigned_id)
    if row is None or row.tenant_id != tenant.id:
        raise NotFound(f"no unassigned e-mail {unassigned_id}")
    return row


def unlog(session: Session, tenant: Tenant, activity_id: int, by: str, user: User | None = None) -> Activity:
    """Take a mail off its records: kept (and audited) but hidden, never deleted.

    ``user`` is the console user asking (only the owner or an administrator may); None is an API token.
    """
    activity = get_activity(session, tenant, activity_id)
    if user is not None and activity.owner_user_id != user.id and not is_admin(session, user):
        raise InputError("only the user who logged this e-mail or an administrator can unlog it")
    activity.unlogged_at = utcnow()
    session.add(activity)
    session.add(AuditEntry(
        tenant_id=tenant.id, action="unlogged", reason="by_user", internet_message_id=activity.internet_message_id,
        detail={"by": by, "activity_id": activity.id, "subject": activity.subject, "from": activity.from_email}))
    session.flush()
    return activity


def attachment(session: Session, tenant: Tenant, attachment_id: int) -> tuple[Attachment, Blob]:
    found = session.get(Attachment, attachment_id)
    if found is None:
        raise NotFound(f"no attachment {attachment_id}")
    get_activity(session, tenant, found.activity_id)  # the tenant check (and hidden once unlogged)
    blob = session.get(Blob, found.sha256)
    if blob is None:
        raise NotFound(f"no attachment {attachment_id}")
    return found, blob


# ------------------------------------------------------------------------------------------- audit
def tenant_audit(session: Session, tenant: Tenant, action: str | None = None, limit: int = 200,
                 visible_to: User | None = None) -> list[AuditEntry]:
    """The company's own audit entries, newest first (never the tenant-less ones: those name no company).

    ``visible_to`` narrows it to what concerns one user: mail from or read in their addresses, or their acts.
    """
    statement = select(AuditEntry).where(AuditEntry.tenant_id == tenant.id)
    if action:
        statement = statement.where(AuditEntry.action == action)
    fetched = limit * 5 if visible_to else limit  # room for the entries filtered out below
    entries = list(session.exec(statement.order_by(col(AuditEntry.id).desc()).limit(fetched)))
    if visible_to is not None:
        mine = own_addresses(session, visible_to)
        entries = [e for e in entries if e.mailbox in mine or e.detail.get("from") in mine
                   or e.detail.get("by") == visible_to.email][:limit]
    return entries


def explain_reason(reason: str) -> str:
    return REASON_TEXT.get(reason, reason.replace("_", " "))
