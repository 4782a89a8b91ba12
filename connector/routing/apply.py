"""apply(decision) writes what `route` decided, inside the caller's transaction.

Every write is get-or-create on a natural key (internet message id per tenant, contact e-mail,
the message that created a case or task, thread keys), so applying the same decision twice, or a
second copy of the same message, changes nothing but the list of sources.

`Writer` applies a whole batch. New threads and activities get provisional (negative) ids that the rest of
the batch refers to; at `flush` they are inserted with one multi-row INSERT … RETURNING per table, the
provisional ids are replaced by the real ones, and every other row (thread keys and targets, links,
participants, sources, attachments, raw messages, audit entries) follows with one multi-row INSERT per
table. Between the two, the content of attachments and raw messages goes to the `connector.storage` store in
one `put_many` (after the first insert, so on SQLite the write lock is already this transaction's). Records
and unassigned mail, rare in bulk, are inserted at once. What exists is asked once per parent
and remembered (in the repository for what routing reads too), so the rows a batch writes are exactly those
one transaction per message would write (tests/connector/routing/test_bulk_equivalence.py).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Table, insert, text, update
from sqlmodel import Session, SQLModel, col, select

from connector import planner_statistics
from connector.config import Settings
from connector.db import utcnow
from connector.events.outbox import EventType, OutboxRows
from connector.mail.envelope import Direction
from connector.models import (
    REFERENCE_PREFIX,
    Activity,
    ActivityLink,
    ActivitySource,
    Attachment,
    AuditEntry,
    EventOutbox,
    Participant,
    Record,
    RecordKind,
    Thread,
    ThreadKey,
    ThreadTarget,
    Unassigned,
)
from connector.models.directory import bump
from connector.models.mail import RawMessage
from connector.routing import threads
from connector.routing.decision import Decision, NewRecord, Outcome, Reason, RecordRef
from connector.routing.repository import SqlRepository, chunks, earliest
from connector.storage.factory import blob_store
from connector.storage.ports import BlobKey

_NOT_FOLLOWED = {"customer"}  # derived per message (F11), never inherited by the thread
# Queued rows are inserted after the new threads and activities they refer to; ids of the others exist already.
_DRAW_IDS = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)")
_QUEUED: tuple[type[SQLModel], ...] = (ThreadKey, ThreadTarget, ActivityLink, Participant, ActivitySource,
                                       Attachment, RawMessage, AuditEntry, EventOutbox)
# The natural key of each child row under its activity, as the unique constraints define them.
_CHILD_KEYS: dict[type[SQLModel], tuple[str, ...]] = {
    ActivityLink: ("record_id",), Participant: ("email", "role"), ActivitySource: ("source", "mailbox"),
    Attachment: ("name", "sha256")}
_COPIES_ADD = (ActivityLink, Participant, ActivitySource)  # what another copy of a logged message may add


@dataclass(frozen=True)
class Applied:
    outcome: Outcome
    reason: Reason
    activity_id: int | None = None
    unassigned_id: int | None = None
    created: bool = False  # a new activity (not another copy of a logged one)
    thread_opened: bool = False  # the thread had no logged message before
    # A new message brought its logged thread a provider thread it had not (a reply whose edited subject made
    # Gmail or Outlook start a new one): the rest of that provider thread belongs to the conversation too.
    provider_thread_joined: bool = False


def apply(decision: Decision, session: Session, settings: Settings, repo: SqlRepository | None = None) -> Applied:
    """One decision, written before returning. Pass the router's repository when routing more mail in this
    transaction: it then knows what was written (it remembers what it read)."""
    writer = Writer(session, settings, repo or SqlRepository(session))
    applied = writer.apply(decision)
    writer.flush()
    return writer.resolved(applied)


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined, no-any-return]


class Writer:
    def __init__(self, session: Session, settings: Settings, repo: SqlRepository) -> None:
        session.flush()  # the caller's pending ORM changes first: the inserts below bypass the unit of work
        self.session = session
        self.settings = settings
        self.repo = repo
        self.connection = session.connection()
        self.queued: dict[type[SQLModel], list[dict[str, Any]]] = {model: [] for model in _QUEUED}
        self.children: dict[tuple[type[SQLModel], int], set[tuple[object, ...]]] = {}
        self.blobs: dict[BlobKey, bytes] = {}  # content per company, to the store at flush (it dedups)
        self.origins: dict[tuple[int, str, str], int] = {}
        self.provisional = itertools.count(-1, -1)
        self.new: dict[type[SQLModel], list[dict[str, Any]]] = {Thread: [], Activity: []}  # with provisional ids
        self.real: dict[int, int] = {}  # provisional id → id, once inserted
        self.outbox = OutboxRows(self.connection)  # events for the host system, in this same transaction
        # Activities a later copy showed to be the firm's own mail (its owner's Sent Items copy of a Send As mail
        # read after a colleague's inbox copy): "sent", whichever copy came first.
        self.sent_later: set[int] = set()

    def apply(self, decision: Decision) -> Applied:
        if decision.outcome is Outcome.IGNORED:
            return Applied(decision.outcome, decision.reason)
        if decision.outcome is Outcome.REFUSED:
            self._audit(decision, "refused")
            joined = False
            if decision.thread_id is not None and decision.thread_keys:  # a refused aside whose thread is followed
                _, _, joined = self._thread(decision, None)
            return Applied(decision.outcome, decision.reason, provider_thread_joined=joined)
        if decision.outcome is Outcome.UNASSIGNED:
            return self._keep_unassigned(decision)
        return self._log(decision)

    def flush(self) -> None:
        """Insert the new threads and activities, store the content, then insert the queued rows: one INSERT per
        table, of all its rows."""
        self.outbox.describe_records(self.queued[EventOutbox])
        planner_statistics.grew(self.session, len(self.new[Activity]))  # refreshed after the commit, when due
        for model, rows in self.new.items():
            self._insert(model, rows)
        if self.blobs:
            blob_store(self.settings, self.connection).put_many(self.blobs)
            self.blobs.clear()
        for model, rows in self.queued.items():
            self._insert(model, rows)
        self.repo.renumber(self.real)
        self._mark_sent()

    def _mark_sent(self) -> None:
        table = _table(Activity)
        for part in chunks([self.real.get(i, i) for i in self.sent_later]):
            self.connection.execute(update(table).where(table.c.id.in_(part),
                                                        table.c.direction == Direction.RECEIVED.value)
                                    .values(direction=Direction.SENT.value))
        self.sent_later.clear()

    def _insert(self, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self._renumber(row)
        for part in chunks(rows):
            if model in self.new:
                self._insert_new(_table(model), part)
            else:
                self.connection.execute(insert(_table(model)), list(part))
        rows.clear()

    def _insert_new(self, table: Table, part: Sequence[dict[str, Any]]) -> None:
        """Rows under provisional ids, inserted under real ones. PostgreSQL draws the ids from the table's sequence
        first, so the rows go as one prepared INSERT that psycopg pipelines, row after row: one INSERT … RETURNING
        for the whole batch would be a text growing with it, parsed anew by psycopg and the server every time."""
        if self.connection.dialect.name == "postgresql":
            ids = sorted(self.connection.execute(_DRAW_IDS, {"table": table.name, "count": len(part)}).scalars())
            self.connection.execute(insert(table), [row | {"id": id_} for row, id_ in zip(part, ids, strict=True)])
        else:
            ids = list(self.connection.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                               [{k: v for k, v in row.items() if k != "id"} for row in part]).scalars())
        self.real.update(zip((row["id"] for row in part), ids, strict=True))

    def resolved(self, applied: Applied) -> Applied:
        """``applied`` with its activity's real id (after `flush`)."""
        if applied.activity_id is None or applied.activity_id > 0:
            return applied
        return replace(applied, activity_id=self.real[applied.activity_id])

    def _renumber(self, row: dict[str, Any]) -> None:
        for key in ("thread_id", "activity_id"):
            if row.get(key, 0) < 0:
                row[key] = self.real[row[key]]
        for name in ("detail", "payload"):  # an audit entry's detail, an event's payload
            inner = row.get(name)
            if isinstance(inner, dict) and any(inner.get(key, 0) < 0 for key in ("activity_id", "thread_id")):
                row[name] = {**inner, **{key: self.real[inner[key]] for key in ("activity_id", "thread_id")
                                         if inner.get(key, 0) < 0}}

    def _add_new(self, model: type[SQLModel], values: dict[str, Any]) -> int:
        """Queue a thread or activity under a provisional id (negative: never a real one)."""
        provisional = next(self.provisional)
        self.new[model].append({"id": provisional, **values})
        return provisional

    def prefetch_children(self, activity_ids: Sequence[int]) -> None:
        """The links, participants and sources of activities a batch may add copies to: one query per kind."""
        for model in _COPIES_ADD:
            table, names = _table(model), _CHILD_KEYS[model]
            for part in chunks(activity_ids):
                for activity_id in part:
                    self.children.setdefault((model, activity_id), set())
                rows = self.connection.execute(select(table.c.activity_id, *(table.c[n] for n in names))
                                               .where(table.c.activity_id.in_(part)))
                for activity_id, *key in rows:
                    self.children[(model, activity_id)].add(tuple(key))

    # ----------------------------------------------------------------- logging
    def _log(self, decision: Decision) -> Applied:
        assert decision.tenant_id is not None
        envelope = decision.envelope
        target_ids = [(self._record_id(t.record, decision.tenant_id), t.reason) for t in decision.targets]
        found = self.repo.activity(decision.tenant_id, envelope.internet_message_id)
        created = found is None
        thread_id, opened, joined = self._thread(decision, found[1] if found else None)
        activity_id = found[0] if found else self._insert_activity(decision, thread_id)
        if found and decision.direction is Direction.SENT:
            self.sent_later.add(activity_id)
        targets = self.repo.thread_target_set(thread_id)
        for record_id, reason in target_ids:
            self._child(ActivityLink, activity_id, fresh=created, record_id=record_id, reason=reason)
            if reason not in _NOT_FOLLOWED and record_id not in targets:
                targets.add(record_id)
                self.queued[ThreadTarget].append({"thread_id": thread_id, "record_id": record_id})
        for plan in decision.participants:
            record_id = self._record_id(plan.record, decision.tenant_id) if plan.record else None
            self._child(Participant, activity_id, fresh=created, email=plan.address.email, role=plan.role,
                        name=plan.address.name, kind=plan.kind, user_id=plan.user_id, record_id=record_id)
        self._child(ActivitySource, activity_id, fresh=created, source=envelope.source.value, mailbox=envelope.mailbox,
                    provider_message_id=envelope.provider_message_id, seen_at=utcnow())
        if created:
            self._store_attachments(decision, activity_id)
            self._store_raw(decision, activity_id)
        if created:
            self._event(decision.tenant_id, EventType.ACTIVITY_LOGGED, {
                "activity_id": activity_id, "thread_id": thread_id, "internet_message_id": envelope.internet_message_id,
                "subject": decision.subject, "direction": decision.direction.value, "sent_at": decision.sent_at,
                "from": decision.from_.email if decision.from_ else "", "owner_user_id": decision.owner_user_id,
                "records": [{"id": rid, "reason": reason} for rid, reason in target_ids]})
        self._audit(decision, "logged" if created else "duplicate", activity_id=activity_id,
                    targets=[rid for rid, _ in target_ids])
        return Applied(Outcome.LOGGED, decision.reason, activity_id=activity_id, created=created,
                       thread_opened=opened, provider_thread_joined=created and joined)

    def _insert_activity(self, decision: Decision, thread_id: int) -> int:
        assert decision.tenant_id is not None
        activity = self.settings.activity
        sender = decision.from_
        activity_id = self._add_new(Activity, {
            "tenant_id": decision.tenant_id, "internet_message_id": decision.envelope.internet_message_id,
            "thread_id": thread_id, "type": activity.type, "status": activity.status,
            "performed_by": activity.performed_by, "direction": decision.direction.value, "subject": decision.subject,
            "text": decision.text, "html": decision.html, "sent_at": decision.sent_at,
            "from_email": sender.email if sender else "", "from_name": sender.name if sender else "",
            "owner_user_id": decision.owner_user_id, "customer_id": decision.customer_id,
            "notes": list(decision.notes), "unlogged_at": None, "logged_at": utcnow()})
        self.repo.remember_activity(decision.tenant_id, decision.envelope.internet_message_id, activity_id, thread_id)
        return activity_id

    def _thread(self, decision: Decision, activity_thread: int | None) -> tuple[int, bool, bool]:
        """The activity's thread (found, or opened now), with every key of this message added to it; whether it
        was opened now, and whether it was found and gained a provider thread key."""
        assert decision.tenant_id is not None
        known = self.repo.threads_by_key(decision.tenant_id, [key for _, key in decision.thread_keys])
        thread_id = activity_thread if activity_thread is not None else decision.thread_id
        if thread_id is None and known:  # re-checked: an earlier message of the batch may have opened it
            thread_id = earliest(known.values())
        opened = thread_id is None
        if thread_id is None:
            thread_id = self._add_new(Thread, {"tenant_id": decision.tenant_id, "subject": decision.subject,
                                               "created_at": utcnow()})
            self.repo.opened_thread(thread_id)
        joined = False
        for kind, key in decision.thread_keys:
            if key not in known:
                joined = joined or (kind == threads.PROVIDER and not opened)
                known[key] = thread_id
                self.repo.remember_thread_key(decision.tenant_id, key, thread_id)
                self.queued[ThreadKey].append({"tenant_id": decision.tenant_id, "thread_id": thread_id,
                                               "kind": kind, "key": key})
        return thread_id, opened, joined

    def _store_attachments(self, decision: Decision, activity_id: int) -> None:
        assert decision.tenant_id is not None
        project_id = decision.project_ids[0] if decision.project_ids else None
        for attachment in decision.attachments:
            content = attachment.read()
            digest = hashlib.sha256(content).hexdigest()
            self.blobs.setdefault((decision.tenant_id, digest), content)
            self._child(Attachment, activity_id, fresh=True, name=attachment.name, sha256=digest,
                        content_type=attachment.content_type, size=len(content), record_id=project_id)

    def _store_raw(self, decision: Decision, activity_id: int) -> None:
        """The message byte for byte as first received, for export (when it came as bytes at all)."""
        raw = decision.envelope.raw
        if raw is None or decision.tenant_id is None:
            return
        digest = hashlib.sha256(raw).hexdigest()
        self.blobs.setdefault((decision.tenant_id, digest), raw)
        self.queued[RawMessage].append({"activity_id": activity_id, "sha256": digest})

    # ----------------------------------------------------------------- unassigned
    def _keep_unassigned(self, decision: Decision) -> Applied:
        assert decision.tenant_id is not None
        envelope = decision.envelope
        row_id = self.session.exec(select(Unassigned.id).where(
            Unassigned.tenant_id == decision.tenant_id,
            Unassigned.internet_message_id == envelope.internet_message_id)).first()
        if row_id is None:
            row_id = self._insert_returning(Unassigned, {
                "tenant_id": decision.tenant_id, "internet_message_id": envelope.internet_message_id,
                "user_id": decision.user_id, "from_email": decision.from_.email if decision.from_ else "",
                "from_name": decision.from_.name if decision.from_ else "", "subject": decision.subject,
                "sent_at": decision.sent_at, "text": decision.text, "html": decision.html,
                "recipients": [a.email for a in envelope.to + envelope.cc], "reason": decision.reason.value,
                "activity_id": None, "linked_at": None, "created_at": utcnow()})
            self._event(decision.tenant_id, EventType.UNASSIGNED_CREATED, {
                "unassigned_id": row_id, "internet_message_id": envelope.internet_message_id,
                "subject": decision.subject, "from": decision.from_.email if decision.from_ else "",
                "reason": decision.reason.value, "recipients": [a.email for a in envelope.to + envelope.cc]})
        self._audit(decision, "unassigned", unassigned_id=row_id)
        return Applied(Outcome.UNASSIGNED, decision.reason, unassigned_id=row_id)

    # ----------------------------------------------------------------- records
    def _record_id(self, ref: RecordRef, tenant_id: int) -> int:
        if ref.record_id is not None:
            return ref.record_id
        assert ref.new is not None
        new = ref.new
        if new.origin_message_id is not None:
            key = (tenant_id, new.kind.value, new.origin_message_id)
            if key not in self.origins:
                found = self.session.exec(select(Record.id).where(
                    Record.tenant_id == tenant_id, Record.kind == new.kind.value,
                    Record.origin_message_id == new.origin_message_id)).first()
                self.origins[key] = found if found is not None else self._create_record(new, tenant_id)
            return self.origins[key]
        person = self.repo.people_by_email(tenant_id, new.kind, [new.email] if new.email else []).get(new.email or "")
        if person is not None and person.id is not None:
            return person.id
        return self._create_record(new, tenant_id)

    def _create_record(self, new: NewRecord, tenant_id: int) -> int:
        values = {"tenant_id": tenant_id, "kind": new.kind.value, "email": new.email, "title": new.title,
                  "first_name": new.first_name, "last_name": new.last_name, "due_date": new.due_date,
                  "owner_user_id": new.owner_user_id, "origin_message_id": new.origin_message_id,
                  "created_by": "Email Capture", "status": "open", "number": None, "customer_id": None,
                  "created_at": utcnow()}
        record_id = self._insert_returning(Record, values)
        bump(self.connection, [tenant_id], self.session.info)  # the directory changed: other processes re-read it
        prefix = REFERENCE_PREFIX.get(RecordKind(new.kind))
        if prefix:  # a reference users can quote as #CO10042 from now on (F6)
            values["number"] = f"{prefix}{10000 + record_id}"
            self.connection.execute(update(_table(Record)).where(col(Record.id) == record_id)
                                    .values(number=values["number"]))
        self.repo.remember_record(Record(id=record_id, **values))
        self._event(tenant_id, EventType.RECORD_CREATED, {  # the host system may want it in its own books
            "record_id": record_id, "kind": new.kind.value, "number": values["number"], "title": new.title,
            "email": new.email, "first_name": new.first_name, "last_name": new.last_name,
            "owner_user_id": new.owner_user_id, "due_date": new.due_date.isoformat() if new.due_date else None,
            "origin_message_id": new.origin_message_id})
        return record_id

    # ----------------------------------------------------------------- helpers
    def _insert_returning(self, model: type[SQLModel], values: dict[str, Any]) -> int:
        table = _table(model)
        return int(self.connection.execute(insert(table).returning(table.c.id), values).scalar_one())

    def _child(self, model: type[SQLModel], activity_id: int, *, fresh: bool, **values: Any) -> None:
        """Queue a row under an activity unless one with its natural key exists (asked once per activity;
        an activity created in this batch has none in the database)."""
        key = tuple(values[name] for name in _CHILD_KEYS[model])
        existing = self.children.get((model, activity_id))
        if existing is None:
            existing = set() if fresh else self._load_children(model, activity_id)
            self.children[(model, activity_id)] = existing
        if key not in existing:
            existing.add(key)
            self.queued[model].append({"activity_id": activity_id, **values})

    def _load_children(self, model: type[SQLModel], activity_id: int) -> set[tuple[object, ...]]:
        table = _table(model)
        names = _CHILD_KEYS[model]
        rows = self.connection.execute(select(*(table.c[n] for n in names)).where(table.c.activity_id == activity_id))
        return {tuple(row) for row in rows}

    def _event(self, tenant_id: int, event_type: EventType, data: dict[str, Any]) -> None:
        """An event for the host system, written with the batch (only when an endpoint of the company wants it)."""
        row = self.outbox.row(tenant_id, event_type, data)
        if row is not None:
            self.queued[EventOutbox].append(row)

    def _audit(self, decision: Decision, action: str, **detail: object) -> None:
        envelope = decision.envelope
        sender = envelope.from_
        self.queued[AuditEntry].append({
            "tenant_id": decision.tenant_id, "at": utcnow(), "action": action, "reason": decision.reason.value,
            "internet_message_id": envelope.internet_message_id, "mailbox": envelope.mailbox,
            "source": envelope.source.value,
            "detail": {"from": sender.email if sender else "", "subject": envelope.subject,
                       "notes": list(decision.notes), **decision.detail, **detail}})
