"""Erasure of a person (GDPR art. 17): every trace of their address and name, in one audited operation.

Across the company's mail (activities, participants, attachments' names, threads and their keys), contacts and
leads, unassigned mail, the quarantine, the SMTP spool, the disposal register, hold reasons and the audit log,
the address becomes a pseudonym (`erased-<token>@erased.invalid`, the same everywhere, so the mail still reads
as one correspondent's) and names and the address's local part become `[erased]`. The original MIME of every
message that named them is deleted (it cannot be edited without ceasing to be the original), and so is every
attachment whose name or bytes carry the address or a name. Mail a legal hold covers is left whole and
reported; a hold on the person's own contact record refuses the erasure. A dry run reports the same counts
and changes nothing. The audit keeps `erased` (counts, pseudonym, who asked: never the address).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from connector.db import utcnow
from connector.errors import InputError
from connector.models import (
    Activity,
    Attachment,
    AuditEntry,
    Exclusion,
    Participant,
    QuarantinedMessage,
    Record,
    RecordKind,
    SenderAddress,
    SpooledMessage,
    SpoolState,
    Tenant,
    Unassigned,
    User,
)
from connector.models.mail import RawMessage
from connector.services import disposal, holds
from connector.services.disposal import chunks
from connector.services.redaction import redact_audit
from connector.services.scrub import ERASED, Identity, Place, apply_changes, find_changes
from connector.storage.ports import BlobStore

PLACES = (
    Place("activity", ("subject", "text", "html", "from_email", "from_name", "internet_message_id", "performed_by"),
          ("notes",), guard="activity:id"),
    Place("participant", ("email", "name"), scope="activity", guard="activity:activity_id"),
    Place("attachment", ("name",), scope="activity", guard="activity:activity_id"),
    Place("thread", ("subject",), guard="thread:id"),
    Place("threadkey", ("key",), guard="thread:thread_id"),
    Place("record", ("email", "first_name", "last_name", "title", "number"), guard="record:id"),
    Place("unassigned", ("from_email", "from_name", "subject", "text", "html", "internet_message_id"),
          ("recipients",), guard="activity:activity_id"),
    Place("quarantine", ("from_email", "subject", "verdict", "internet_message_id"), ("envelope_recipients", "detail")),
    Place("spool", ("mail_from", "last_error", "authentication", "reason"), ("rcpt_tos",), scope="none",
          guard="activity:activity_id"),
    Place("threadbackfill", ("internet_message_id", "thread_key"), scope="mailbox"),
    Place("disposalrecord", ("internet_message_id", "rule"), guard="activity:activity_id"),
    Place("legalhold", ("reason",)),
)
_PERSON_KINDS = (RecordKind.CONTACT.value, RecordKind.LEAD.value)


@dataclass
class ErasureReport:
    erasure: str  # the token in the pseudonym: names this erasure in the audit
    pseudonym: str
    dry_run: bool
    rows: dict[str, int] = field(default_factory=dict)  # table → rows rewritten
    originals: int = 0  # original messages deleted
    attachments: int = 0  # attachments deleted
    raw_dropped: int = 0  # quarantined or spooled messages whose bytes were dropped
    suppressions: list[str] = field(default_factory=list)  # exclusion and never-file entries removed
    held: dict[int, int] = field(default_factory=dict)  # activity id → the hold that kept it whole

    @property
    def total(self) -> int:
        return sum(self.rows.values()) + self.originals + self.attachments + self.raw_dropped + len(self.suppressions)

    def summary(self) -> dict[str, object]:
        return {"erasure": self.erasure, "pseudonym": self.pseudonym, "dry_run": self.dry_run,
                "rows": {k: v for k, v in self.rows.items() if v}, "originals": self.originals,
                "attachments": self.attachments, "raw_dropped": self.raw_dropped, "suppressions": self.suppressions,
                "held": {str(k): v for k, v in sorted(self.held.items())}}

    def lines(self) -> list[str]:
        """The report as a person reads it (the CLI prints it, the console shows it)."""
        head = "Would erase" if self.dry_run else f"Erased (erasure {self.erasure}, now {self.pseudonym})"
        found = [f"{head}: {self.total} change{'s' if self.total != 1 else ''}"]
        found += [f"{table}: {n} row{'s' if n != 1 else ''} rewritten" for table, n in self.rows.items() if n]
        found += [f"original messages deleted: {self.originals}", f"attachments deleted: {self.attachments}",
                  f"quarantined or spooled messages dropped: {self.raw_dropped}"]
        found += [f"removed from the {s}" for s in self.suppressions]
        if self.held:
            found.append(f"kept whole under legal hold {', '.join(map(str, sorted(set(self.held.values()))))}: "
                         f"{len(self.held)} messages")
        return found


@dataclass
class _Held:
    activities: dict[int, int]
    threads: set[int]
    records: set[int]
    message_ids: set[str]

    def protects(self, guard: str, row: dict[str, Any]) -> bool:
        kind, _, column = guard.partition(":")
        value = row.get(column) if column else None
        return value is not None and value in {"activity": self.activities, "thread": self.threads,
                                               "record": self.records}[kind]


def erase_person(session: Session, tenant: Tenant, address: str, *, names: Iterable[str] = (), by: str = "",
                 dry_run: bool = False, store: BlobStore | None = None) -> ErasureReport:
    """Erase ``address`` (and the names it went by) from ``tenant``'s data; see the module's docstring."""
    assert tenant.id is not None
    address = address.strip().lower()
    if "@" not in address or address.startswith("@") or address.endswith("@"):
        raise InputError(f"{address!r} is not an e-mail address")
    _refuse_users(session, tenant, address)
    people = session.exec(select(Record).where(Record.tenant_id == tenant.id, col(Record.kind).in_(_PERSON_KINDS),
                                               Record.email == address)).all()
    on_hold = holds.held_records(session, tenant.id)
    for record in people:
        if record.id in on_hold:
            raise holds.OnHold(f"{record.kind} {address} is under legal hold {on_hold[record.id]}: "
                               "release it before erasing the person")
    token = secrets.token_hex(6)
    who = Identity(address, _names(session, tenant.id, address, people, names), f"erased-{token}@erased.invalid")
    held = _held(session, tenant.id, on_hold)
    report = ErasureReport(token, who.pseudonym, dry_run, held=dict(held.activities))
    _blank_names(session, tenant.id, address, held, report)
    touched = _rewrite(session, who, tenant.id, held, report)
    _drop_content(session, who, tenant.id, touched, held, report, store)
    _drop_raw(session, who, tenant.id, report)
    _suppressions(session, tenant.id, address, report)
    report.rows["auditentry"] = redact_audit(session, who, tenant.id, held.message_ids, token, dry_run=dry_run)
    if not dry_run:
        session.add(AuditEntry(tenant_id=tenant.id, action="erased", reason="gdpr_art17", detail={
            "erasure": token, "pseudonym": who.pseudonym, "by": by, "rows": report.rows,
            "originals": report.originals, "attachments": report.attachments, "raw_dropped": report.raw_dropped,
            "suppressions": len(report.suppressions), "held": sorted(set(report.held.values()))}))
        session.flush()
    return report


def _refuse_users(session: Session, tenant: Tenant, address: str) -> None:
    user = session.exec(select(User).where(User.email == address)).first()
    sender = session.exec(select(SenderAddress).where(SenderAddress.email == address)).first()
    if user is not None or sender is not None:
        raise InputError(f"{address} is a user's address: deactivate the user instead of erasing them as a person")


def _names(session: Session, tenant_id: int, address: str, people: Iterable[Record], extra: Iterable[str]
           ) -> tuple[str, ...]:
    """Every name the person went by here: their records', their display names on mail, and any given."""
    found = [n for r in people for n in (f"{r.first_name} {r.last_name}", r.title)]
    found += session.exec(select(Participant.name).join(Activity, col(Activity.id) == col(Participant.activity_id))
                          .where(Activity.tenant_id == tenant_id, Participant.email == address)).all()
    found += session.exec(select(Activity.from_name).where(Activity.tenant_id == tenant_id,
                                                           Activity.from_email == address)).all()
    found += session.exec(select(Unassigned.from_name).where(Unassigned.tenant_id == tenant_id,
                                                             Unassigned.from_email == address)).all()
    names = {" ".join(n.split()) for n in [*found, *extra] if n and n.strip()}
    names |= {" ".join(reversed(n.split())) for n in names if len(n.split()) == 2}  # "Quist, Zelda"
    names.discard(address)
    return tuple(sorted(names))


def _held(session: Session, tenant_id: int, on_hold: dict[int, int]) -> _Held:
    activities = holds.held_activities(session, tenant_id)
    threads: set[int] = set()
    message_ids: set[str] = set()
    for chunk in chunks(activities):
        for thread_id, message_id in session.exec(select(Activity.thread_id, Activity.internet_message_id)
                                                  .where(col(Activity.id).in_(chunk))):
            threads.add(thread_id)
            message_ids.add(message_id)
    return _Held(activities, threads, set(on_hold), message_ids)


def _blank_names(session: Session, tenant_id: int, address: str, held: _Held, report: ErasureReport) -> None:
    """Names stored beside the address go whole, whatever their form ("Zelda", "Quist, Z.")."""
    people = session.exec(select(Record).where(Record.tenant_id == tenant_id, col(Record.kind).in_(_PERSON_KINDS),
                                               Record.email == address)).all()
    participants = session.exec(select(Participant).join(Activity, col(Activity.id) == col(Participant.activity_id))
                                .where(Activity.tenant_id == tenant_id, Participant.email == address,
                                       col(Participant.activity_id).not_in(list(held.activities)))).all()
    report.rows["record"] = len(people)
    if report.dry_run:
        return
    for record in people:
        record.first_name, record.last_name, record.title, record.status = "", "", ERASED, "erased"
        session.add(record)
    for participant in participants:
        participant.name = ""
        session.add(participant)
    for model in (Activity, Unassigned):
        guard = col(model.id if model is Activity else model.activity_id)  # type: ignore[attr-defined]
        session.execute(update(model).where(model.tenant_id == tenant_id, model.from_email == address,
                                            guard.is_(None) | guard.not_in(list(held.activities)))
                        .values(from_name=""))
    session.flush()


def _rewrite(session: Session, who: Identity, tenant_id: int, held: _Held, report: ErasureReport) -> set[int]:
    """Every place's rows that mention the person, rewritten; the activities whose content named them."""
    touched: set[int] = set()
    for place in PLACES:
        changes = find_changes(session, place, who, tenant_id, lambda row, g=place.guard: bool(g) and
                               held.protects(g, row))
        report.rows[place.table] = max(report.rows.get(place.table, 0), len(changes))
        if place.table == "activity":
            touched |= {c.key["id"] for c in changes}
        elif place.table in ("participant", "attachment"):
            touched |= {c.row["activity_id"] for c in changes}
        if not report.dry_run:
            apply_changes(session, place.table, changes)
    session.flush()
    return touched


def _drop_content(session: Session, who: Identity, tenant_id: int, touched: set[int], held: _Held,
                  report: ErasureReport, store: BlobStore | None) -> None:
    """Originals of mail that named the person, or whose bytes do; attachments whose name or bytes do."""
    originals = set(touched)
    for activity_id, sha256 in session.exec(
            select(RawMessage.activity_id, RawMessage.sha256)
            .join(Activity, col(Activity.id) == col(RawMessage.activity_id)).where(Activity.tenant_id == tenant_id)):
        if activity_id not in originals and who.found_in(disposal.read(session, tenant_id, sha256, store)):
            originals.add(activity_id)
    originals -= set(held.activities)
    attachments = []
    for chunk in chunks(originals):
        for attachment in session.exec(select(Attachment).where(col(Attachment.activity_id).in_(chunk))):
            if who.found_in(attachment.name.encode()) or ERASED in attachment.name \
                    or who.found_in(disposal.read(session, tenant_id, attachment.sha256, store)):
                attachments.append(attachment)
    stored = sum(len(session.exec(select(RawMessage.activity_id).where(col(RawMessage.activity_id).in_(chunk))).all())
                 for chunk in chunks(originals))
    report.originals, report.attachments = stored, len(attachments)
    if not report.dry_run:
        disposal.drop_attachments(session, tenant_id, attachments, store)
        disposal.drop_originals(session, originals, store)


def _drop_raw(session: Session, who: Identity, tenant_id: int, report: ErasureReport) -> None:
    """Quarantined and spooled messages that carry the person: their bytes go (the rows stay as receipts)."""
    quarantined = session.exec(select(QuarantinedMessage).where(QuarantinedMessage.tenant_id == tenant_id)).all()
    spooled = session.exec(select(SpooledMessage).where(SpooledMessage.state == SpoolState.PENDING.value)).all()
    items: list[QuarantinedMessage | SpooledMessage] = [
        *(q for q in quarantined if q.raw and who.found_in(q.raw)),
        *(s for s in spooled if s.raw and who.found_in(s.raw))]
    report.raw_dropped = len(items)
    if report.dry_run:
        return
    for item in items:
        item.raw = b""
        if isinstance(item, QuarantinedMessage):
            item.deleted_at = item.deleted_at or utcnow()
        else:
            item.state, item.outcome, item.reason, item.filed_at = SpoolState.DONE.value, "erased", "erased", utcnow()
        session.add(item)
    session.flush()


def _suppressions(session: Session, tenant_id: int, address: str, report: ErasureReport) -> None:
    """Exclusions and users' never-file entries naming the address: they go, and the report says whose."""
    for exclusion in session.exec(select(Exclusion).where(Exclusion.tenant_id == tenant_id,
                                                          Exclusion.pattern == address)).all():
        report.suppressions.append("company exclusion" if exclusion.user_id is None else "a user's exclusion")
        if not report.dry_run:
            session.delete(exclusion)
    for user in session.exec(select(User).where(User.tenant_id == tenant_id)).all():
        if address in user.never_file:
            report.suppressions.append(f"never-file list of {user.email}")
            if not report.dry_run:
                user.never_file = [p for p in user.never_file if p != address]
                session.add(user)
    session.flush()
