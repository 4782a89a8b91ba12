"""What the routing core decided about one envelope: data only, written later by `apply`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from connector.mail.envelope import Address, Attachment, Direction, Envelope
from connector.models import RecordKind


class Outcome(StrEnum):
    LOGGED = "logged"  # filed (or, for a copy already filed, its source and links merged)
    UNASSIGNED = "unassigned"  # kept for a user to link to contacts (F12)
    REFUSED = "refused"  # not filed, with a machine-readable reason (audited)
    IGNORED = "ignored"  # unrelated mail in a connected mailbox: not ours to keep or audit


class Reason(StrEnum):
    ADDRESSED = "addressed"  # a dropbox address asked for it
    THREAD = "thread"  # a later message of a logged thread (F13)
    DUPLICATE = "duplicate"  # another copy of a logged message: one activity, another source
    NO_MATCHING_CONTACT = "no_matching_contact"
    NO_CONTACT_ADDRESS = "no_contact_address"
    NOT_RELEVANT = "not_relevant"
    UNKNOWN_ADDRESS = "unknown_address"
    RETIRED_ADDRESS = "retired_address"
    ARCHIVED_RECORD = "archived_record"  # a matter's or project's address, the host system archived it
    UNKNOWN_MAILBOX = "unknown_mailbox"
    UNKNOWN_MATTER = "unknown_matter"
    UNKNOWN_PROJECT = "unknown_project"
    UNAUTHORIZED_SENDER = "unauthorized_sender"
    FORGED_SENDER = "forged_sender"  # received mail whose From names the mailbox's own user
    TENANT_NOT_ENABLED = "tenant_not_enabled"
    DOMAIN_NOT_VERIFIED = "domain_not_verified"
    NO_PERMISSION = "role_lacks_permission"
    CAPTURE_DISABLED = "user_capture_disabled"
    USER_INACTIVE = "user_inactive"
    MISSING_SUBJECT = "missing_subject"
    NO_USER = "no_user_involved"
    # Privacy (connector/routing/privacy.py): never captured, whatever the thread or address says.
    AUTOMATED = "automated_mail"  # a bounce, auto-reply, list or no-reply mail met by thread following
    INTERNAL_ONLY = "internal_only"  # a thread reply among colleagues only; the company did not opt in
    MARKED_PRIVATE = "marked_private"  # Outlook sensitivity Private or Confidential
    PROTECTED_LABEL = "protected_label"  # a Purview label the company blocks
    NEVER_FILE = "never_file_address"  # an address or domain on the user's "never file mail with" list
    WALLED = "walled_record"  # an ethical wall keeps the acting user away from a record it would be filed under
    OTHER_COMPANY = "other_company"  # an import for one company met mail another company's rules would file


@dataclass(frozen=True)
class NewRecord:
    """A record the apply step creates (get-or-create, so replays never duplicate it)."""

    kind: RecordKind
    email: str | None = None
    title: str = ""
    first_name: str = ""
    last_name: str = ""
    due_date: date | None = None
    owner_user_id: int | None = None
    origin_message_id: str | None = None  # cases, opportunities, tasks: one per message


@dataclass(frozen=True)
class RecordRef:
    """An existing record id, or a record to create."""

    record_id: int | None = None
    new: NewRecord | None = None


@dataclass(frozen=True)
class Target:
    record: RecordRef
    reason: str  # address | thread | reference | contact | customer | action


@dataclass(frozen=True)
class ParticipantPlan:
    address: Address
    role: str  # from | to | cc | bcc | forwarded
    kind: str  # owner | user | contact | external
    user_id: int | None = None
    record: RecordRef | None = None


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: Reason
    envelope: Envelope
    tenant_id: int | None = None
    user_id: int | None = None  # the user on whose behalf the mail is filed
    targets: tuple[Target, ...] = ()
    participants: tuple[ParticipantPlan, ...] = ()
    owner_user_id: int | None = None
    customer_id: int | None = None
    thread_id: int | None = None
    thread_keys: tuple[tuple[str, str], ...] = ()  # (kind, key) to attach to the thread
    existing_activity_id: int | None = None
    direction: Direction = Direction.SENT
    subject: str = ""
    text: str = ""
    html: str | None = None
    sent_at: datetime | None = None
    from_: Address | None = None
    attachments: tuple[Attachment, ...] = ()
    project_ids: tuple[int, ...] = ()  # attachments also become files of these projects (F2)
    notes: tuple[str, ...] = ()
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def logs(self) -> bool:
        return self.outcome is Outcome.LOGGED


def refused(envelope: Envelope, reason: Reason, tenant_id: int | None, *, user_id: int | None = None,
            notes: list[str] | None = None) -> Decision:
    return Decision(Outcome.REFUSED, reason, envelope, tenant_id=tenant_id, user_id=user_id,
                    subject=envelope.subject, from_=envelope.from_, sent_at=envelope.sent_at,
                    notes=tuple(notes or ()))


def unassigned(envelope: Envelope, tenant_id: int, user_id: int | None, reason: Reason,
               notes: list[str]) -> Decision:
    return Decision(Outcome.UNASSIGNED, reason, envelope, tenant_id=tenant_id, user_id=user_id,
                    subject=envelope.subject.strip(), text=envelope.text, html=envelope.html,
                    sent_at=envelope.sent_at, from_=envelope.from_, notes=tuple(notes))
