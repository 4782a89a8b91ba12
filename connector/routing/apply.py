"""apply(decision) writes what `route` decided, inside the caller's transaction.

Every write is get-or-create on a natural key (internet message id per tenant, contact e-mail,
the message that created a case or task, thread keys), so applying the same decision twice, or a
second copy of the same message, changes nothing but the list of sources.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TypeVar

from sqlmodel import Session, col, select

from connector.config import Settings
from connector.mail.envelope import Address
from connector.models import (
    REFERENCE_PREFIX,
    Activity,
    ActivityLink,
    ActivitySource,
    Attachment,
    AuditEntry,
    Blob,
    Participant,
    Record,
    RecordKind,
    Thread,
    ThreadKey,
    ThreadTarget,
    Unassigned,
)
from connector.models.mail import RawMessage
from connector.routing.decision import Decision, NewRecord, Outcome, Reason, RecordRef

T = TypeVar("T")
_NOT_FOLLOWED = {"customer"}  # derived per message (F11), never inherited by the thread


@dataclass(frozen=True)
class Applied:
    outcome: Outcome
    reason: Reason
    activity_id: int | None = None
    unassigned_id: int | None = None
    created: bool = False  # a new activity (not another copy of a logged one)
    thread_opened: bool = False  # the thread had no logged message before


def apply(decision: Decision, session: Session, settings: Settings) -> Applied:
    if decision.outcome is Outcome.IGNORED:
        return Applied(decision.outcome, decision.reason)
    if decision.outcome is Outcome.REFUSED:
        _audit(session, decision, "refused")
        return Applied(decision.outcome, decision.reason)
    if decision.outcome is Outcome.UNASSIGNED:
        return _keep_unassigned(decision, session)
    return _log(decision, session, settings)


# --------------------------------------------------------------------------- logging
def _log(decision: Decision, session: Session, settings: Settings) -> Applied:
    assert decision.tenant_id is not None
    envelope = decision.envelope
    records = _Records(session, decision.tenant_id)
    target_ids = [(records.resolve(t.record), t.reason) for t in decision.targets]
    activity = session.exec(select(Activity).where(
        Activity.tenant_id == decision.tenant_id,
        Activity.internet_message_id == envelope.internet_message_id)).first()
    created = activity is None
    thread_id, opened = _thread(session, decision, activity)
    if activity is None:
        activity = Activity(
            tenant_id=decision.tenant_id, internet_message_id=envelope.internet_message_id, thread_id=thread_id,
            type=settings.activity.type, status=settings.activity.status,
            performed_by=settings.activity.performed_by, direction=decision.direction.value,
            subject=decision.subject, text=decision.text, html=decision.html, sent_at=decision.sent_at,
            from_email=decision.from_.email if decision.from_ else "",
            from_name=decision.from_.name if decision.from_ else "",
            owner_user_id=decision.owner_user_id, customer_id=decision.customer_id, notes=list(decision.notes))
        session.add(activity)
        session.flush()
    assert activity.id is not None
    # A new activity (or thread) has no rows yet: add them without asking first, once per key.
    links, targets = _Rows(session, fresh=created), _Rows(session, fresh=opened)
    for record_id, reason in target_ids:
        links.add(ActivityLink, activity_id=activity.id, record_id=record_id, defaults={"reason": reason})
        if reason not in _NOT_FOLLOWED:
            targets.add(ThreadTarget, thread_id=activity.thread_id, record_id=record_id)
    for plan in decision.participants:
        links.add(Participant, activity_id=activity.id, email=plan.address.email, role=plan.role,
                  defaults={"name": plan.address.name, "kind": plan.kind, "user_id": plan.user_id,
                            "record_id": records.resolve(plan.record) if plan.record else None})
    links.add(ActivitySource, activity_id=activity.id, source=envelope.source.value, mailbox=envelope.mailbox,
              defaults={"provider_message_id": envelope.provider_message_id})
    if created:
        _store_attachments(session, decision, activity.id)
        _store_raw(session, decision, activity.id)
    _audit(session, decision, "logged" if created else "duplicate", activity_id=activity.id,
           targets=[rid for rid, _ in target_ids])
    return Applied(Outcome.LOGGED, decision.reason, activity_id=activity.id, created=created,
                   thread_opened=opened)


def _thread(session: Session, decision: Decision, activity: Activity | None) -> tuple[int, bool]:
    """The activity's thread (found, or opened now), with every key of this message added to it."""
    assert decision.tenant_id is not None
    keys = [key for _, key in decision.thread_keys]
    rows = session.exec(select(ThreadKey.key, ThreadKey.thread_id).where(  # one look-up for all the keys
        ThreadKey.tenant_id == decision.tenant_id, col(ThreadKey.key).in_(keys))).all() if keys else []
    thread_id = activity.thread_id if activity else decision.thread_id
    if thread_id is None and rows:  # re-checked inside this transaction: another copy may have opened it
        thread_id = min(found for _, found in rows)
    opened = thread_id is None
    if thread_id is None:
        thread = Thread(tenant_id=decision.tenant_id, subject=decision.subject)
        session.add(thread)
        session.flush()
        assert thread.id is not None
        thread_id = thread.id
    known = {key for key, _ in rows}
    for kind, key in decision.thread_keys:
        if key not in known:
            session.add(ThreadKey(tenant_id=decision.tenant_id, thread_id=thread_id, kind=kind, key=key))
            known.add(key)
    return thread_id, opened


def _store_attachments(session: Session, decision: Decision, activity_id: int) -> None:
    project_id = decision.project_ids[0] if decision.project_ids else None
    for attachment in decision.attachments:
        content = attachment.read()
        digest = hashlib.sha256(content).hexdigest()
        if session.get(Blob, digest) is None:
            session.add(Blob(sha256=digest, size=len(content), content=content))
            session.flush()
        _get_or_add(session, Attachment, activity_id=activity_id, name=attachment.name, sha256=digest,
                    defaults={"content_type": attachment.content_type, "size": len(content),
                              "record_id": project_id})


def _store_raw(session: Session, decision: Decision, activity_id: int) -> None:
    """The message byte for byte as first received, for export (when it came as bytes at all)."""
    raw = decision.envelope.raw
    if raw is None:
        return
    digest = hashlib.sha256(raw).hexdigest()
    if session.get(Blob, digest) is None:
        session.add(Blob(sha256=digest, size=len(raw), content=raw))
        session.flush()
    session.add(RawMessage(activity_id=activity_id, sha256=digest))


# --------------------------------------------------------------------------- unassigned
def _keep_unassigned(decision: Decision, session: Session) -> Applied:
    assert decision.tenant_id is not None
    envelope = decision.envelope
    row = _get_or_add(
        session, Unassigned, tenant_id=decision.tenant_id, internet_message_id=envelope.internet_message_id,
        defaults={"user_id": decision.user_id, "from_email": decision.from_.email if decision.from_ else "",
                  "from_name": decision.from_.name if decision.from_ else "", "subject": decision.subject,
                  "sent_at": decision.sent_at, "text": decision.text, "html": decision.html,
                  "recipients": [a.email for a in envelope.to + envelope.cc], "reason": decision.reason.value})
    _audit(session, decision, "unassigned", unassigned_id=row.id)
    return Applied(Outcome.UNASSIGNED, decision.reason, unassigned_id=row.id)


# --------------------------------------------------------------------------- records
class _Records:
    """Resolves RecordRefs, creating new people/cases/tasks once per natural key."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def resolve(self, ref: RecordRef) -> int:
        if ref.record_id is not None:
            return ref.record_id
        assert ref.new is not None
        return self._get_or_create(ref.new)

    def _get_or_create(self, new: NewRecord) -> int:
        statement = select(Record).where(Record.tenant_id == self.tenant_id, Record.kind == new.kind.value)
        if new.origin_message_id is not None:
            statement = statement.where(Record.origin_message_id == new.origin_message_id)
        else:
            statement = statement.where(Record.email == new.email)
        found = self.session.exec(statement).first()
        if found is not None and found.id is not None:
            return found.id
        record = Record(tenant_id=self.tenant_id, kind=new.kind.value, email=new.email, title=new.title,
                        first_name=new.first_name, last_name=new.last_name, due_date=new.due_date,
                        owner_user_id=new.owner_user_id, origin_message_id=new.origin_message_id,
                        created_by="Email Capture", status="open")
        self.session.add(record)
        self.session.flush()
        assert record.id is not None
        prefix = REFERENCE_PREFIX.get(RecordKind(new.kind))
        if prefix:  # a reference users can quote as #CO10042 from now on (F6)
            record.number = f"{prefix}{10000 + record.id}"
            self.session.add(record)
        return record.id


# --------------------------------------------------------------------------- helpers
class _Rows:
    """Adds rows keyed by natural keys: blindly (once per key) under a parent created in this
    transaction, where nothing can exist yet; get-or-add otherwise."""

    def __init__(self, session: Session, *, fresh: bool) -> None:
        self.session = session
        self.fresh = fresh
        self.added: set[tuple[object, ...]] = set()

    def add(self, model: type[T], *, defaults: dict | None = None, **key: object) -> None:
        if not self.fresh:
            _get_or_add(self.session, model, defaults=defaults, **key)
            return
        identity = (model, *sorted(key.items()))
        if identity not in self.added:
            self.added.add(identity)
            self.session.add(model(**key, **(defaults or {})))


def _get_or_add(session: Session, model: type[T], *, defaults: dict | None = None, **key: object) -> T:
    statement = select(model)
    for name, value in key.items():
        statement = statement.where(getattr(model, name) == value)
    found = session.exec(statement).first()
    if found is not None:
        return found
    row = model(**key, **(defaults or {}))
    session.add(row)
    session.flush()
    return row


def _audit(session: Session, decision: Decision, action: str, **detail: object) -> None:
    envelope = decision.envelope
    sender: Address | None = envelope.from_
    session.add(AuditEntry(
        tenant_id=decision.tenant_id, action=action, reason=decision.reason.value,
        internet_message_id=envelope.internet_message_id, mailbox=envelope.mailbox, source=envelope.source.value,
        detail={"from": sender.email if sender else "", "subject": envelope.subject, "notes": list(decision.notes),
                **decision.detail, **detail},
    ))
