"""SQLModel tables, one module per aggregate. Importing this package registers all of them on `SQLModel.metadata`
(alembic's env, the erasure's scan of every table and the tests' clean-up rely on it), unless the process asked for
tables on demand first (`connector.db.tables_on_demand`: the CLI's read-only commands, for which building the 39
tables was a third of their start-up). Then a name asked of this package loads its module, with the modules of the
tables its foreign keys point at (the ORM resolves them when it writes a row) and the two whose session hooks guard
every write (the audit chain's sealing, the directory's version).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from connector import db

if TYPE_CHECKING:
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

# name → the module (of this package) that defines it
_WHERE = {"ApiToken": "api_tokens", "AuditEntry": "audit", "EVERY_COMPANY": "directory",
    "DirectoryVersion": "directory", "ImportCheckpoint": "imports", "ImportJob": "imports", "ImportState": "imports",
    "Activity": "mail", "ActivityLink": "mail", "ActivitySource": "mail", "Attachment": "mail", "Blob": "mail",
    "Participant": "mail", "Thread": "mail", "ThreadKey": "mail", "ThreadTarget": "mail", "Unassigned": "mail",
    "QuarantinedMessage": "quarantine", "REFERENCE_PREFIX": "records", "Record": "records", "RecordKind": "records",
    "DisposalRecord": "retention", "LegalHold": "retention", "RetentionRule": "retention",
    "RetentionTrigger": "retention", "SpooledMessage": "spool", "SpoolState": "spool", "ACTIVE_STATES": "sync",
    "Mailbox": "sync", "MailboxState": "sync", "ParkedReply": "sync", "ThreadBackfill": "sync",
    "USE_EMAIL_CAPTURE": "tenants", "Role": "tenants", "RolePermission": "tenants", "Tenant": "tenants",
    "Exclusion": "users", "RetiredAddress": "users", "SenderAddress": "users", "User": "users",
    "ActivityVisibility": "visibility", "Visibility": "visibility", "VisibilityPolicy": "visibility",
    "Wall": "visibility", "DeliveryStatus": "webhooks", "EventOutbox": "webhooks", "WebhookAttempt": "webhooks",
    "WebhookDelivery": "webhooks", "WebhookEndpoint": "webhooks"}
_REFERS_TO = {"api_tokens": ("tenants",), "audit": ("tenants",), "imports": ("tenants",), "quarantine": ("users",),
              "mail": ("records",), "records": ("users",), "retention": ("mail",), "spool": ("mail",),
              "sync": ("users",), "users": ("tenants",), "visibility": ("mail",), "webhooks": ("tenants",)}
_ALWAYS = ("audit", "directory")


def _load(module: str) -> None:
    """Import one table module, and what its tables refer to, and bind its names here."""
    loaded = importlib.import_module(f"{__name__}.{module}")
    for name, home in _WHERE.items():
        if home == module:
            globals()[name] = getattr(loaded, name)
    for other in _REFERS_TO.get(module, ()):
        if other not in _loaded:
            _loaded.add(other)
            _load(other)


def load_all() -> None:
    """Every table module of the package, listed here or not: the whole schema on `SQLModel.metadata`."""
    for found in pkgutil.iter_modules(__path__):
        if not found.name.startswith("_") and found.name not in _loaded:
            _loaded.add(found.name)
            _load(found.name)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _loaded.add(module)
    _load(module)
    return globals()[name]


def _bring_referents(session: Session, *_: object) -> None:
    """Before a write on demand: the tables the written rows refer to, also for a class imported from its module
    directly (`from connector.models.mail import RawMessage` passes by `__getattr__`)."""
    for obj in (*session.new, *session.dirty):
        module = type(obj).__module__
        if module.startswith(f"{__name__}.") and (name := module.rsplit(".", 1)[1]) not in _loaded:
            _loaded.add(name)
            _load(name)
        for other in _REFERS_TO.get(module.rsplit(".", 1)[1], ()):
            if other not in _loaded:
                _loaded.add(other)
                _load(other)


_loaded: set[str] = set()
if db.TABLES_ON_DEMAND:
    for _module in _ALWAYS:
        _loaded.add(_module)
        _load(_module)
    event.listen(Session, "before_flush", _bring_referents)
else:
    load_all()

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
