"""SQLModel tables, one module per aggregate. Importing this package registers all of them."""

from connector.models.api_tokens import ApiToken
from connector.models.audit import AuditEntry
from connector.models.directory import EVERY_COMPANY, DirectoryVersion
from connector.models.imports import ImportCheckpoint, ImportJob, ImportState
from connector.models.mail import (
    Activity,
    ActivityLink,
    ActivitySource,
    Attachment,
    Blob,
    Participant,
    Thread,
    ThreadKey,
    ThreadTarget,
    Unassigned,
)
from connector.models.quarantine import QuarantinedMessage
from connector.models.records import REFERENCE_PREFIX, Record, RecordKind
from connector.models.retention import DisposalRecord, LegalHold, RetentionRule, RetentionTrigger
from connector.models.spool import SpooledMessage, SpoolState
from connector.models.sync import ACTIVE_STATES, Mailbox, MailboxState, ParkedReply, ThreadBackfill
from connector.models.tenants import USE_EMAIL_CAPTURE, Role, RolePermission, Tenant
from connector.models.users import Exclusion, RetiredAddress, SenderAddress, User
from connector.models.visibility import ActivityVisibility, Visibility, VisibilityPolicy, Wall
from connector.models.webhooks import DeliveryStatus, EventOutbox, WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ACTIVE_STATES",
    "EVERY_COMPANY",
    "REFERENCE_PREFIX",
    "USE_EMAIL_CAPTURE",
    "Activity",
    "ActivityLink",
    "ActivitySource",
    "ActivityVisibility",
    "ApiToken",
    "Attachment",
    "AuditEntry",
    "Blob",
    "DeliveryStatus",
    "DirectoryVersion",
    "DisposalRecord",
    "EventOutbox",
    "Exclusion",
    "ImportCheckpoint",
    "ImportJob",
    "ImportState",
    "LegalHold",
    "Mailbox",
    "MailboxState",
    "ParkedReply",
    "Participant",
    "QuarantinedMessage",
    "Record",
    "RecordKind",
    "RetentionRule",
    "RetentionTrigger",
    "RetiredAddress",
    "Role",
    "RolePermission",
    "SenderAddress",
    "SpoolState",
    "SpooledMessage",
    "Tenant",
    "Thread",
    "ThreadBackfill",
    "ThreadKey",
    "ThreadTarget",
    "Unassigned",
    "User",
    "Visibility",
    "VisibilityPolicy",
    "Wall",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
