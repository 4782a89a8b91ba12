"""Retention: how long mail filed under each kind of record is kept, and the disposal that enforces it.

One rule per record kind ("matter: 7 years after close", "lead: 2 years after the last activity"). A message
is due when a record it is filed under has outlived its rule's period, no other record it is filed under
still keeps it (a record of a kind with a rule whose period has not run out), and no legal hold covers it.
Disposal drops the body, the attachments and the original MIME; who wrote to whom, when, the subject and
what it was filed under stay, and the disposal register says what went, when and under which rule.
The worker runs it daily (`run_if_due`); `bcc-capture retention run [--dry-run]` runs it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.db import transaction
from connector.errors import InputError
from connector.models import (
    Activity,
    ActivityLink,
    Attachment,
    AuditEntry,
    DisposalRecord,
    Record,
    RecordKind,
    RetentionRule,
    RetentionTrigger,
    Tenant,
)
from connector.services import disposal, holds
from connector.services.disposal import chunks
from connector.storage.ports import BlobStore

RUN_ACTION = "retention_run"


def describe(rule: RetentionRule) -> str:
    period = " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in ((rule.years, "year"), (rule.days, "day"))
                      if n) or "0 days"
    when = "after close" if rule.trigger == RetentionTrigger.AFTER_CLOSE else "after the last activity"
    return f"{rule.kind}: {period} {when}"


def set_rule(session: Session, tenant: Tenant, kind: str, *, years: int = 0, days: int = 0,
             trigger: str = RetentionTrigger.AFTER_CLOSE.value, by: str = "") -> RetentionRule:
    """Create or change the company's rule for ``kind`` (audited with the rule before and after)."""
    if kind not in {k.value for k in RecordKind}:
        raise InputError(f"unknown record kind {kind!r}: one of {', '.join(k.value for k in RecordKind)}")
    if trigger not in {t.value for t in RetentionTrigger}:
        raise InputError(f"a rule counts {' or '.join(t.value for t in RetentionTrigger)}, not {trigger!r}")
    if years < 0 or days < 0 or years + days == 0:
        raise InputError("a retention period is at least one day (years and days, neither negative)")
    rule = session.exec(select(RetentionRule).where(RetentionRule.tenant_id == tenant.id,
                                                    RetentionRule.kind == kind)).first()
    before = describe(rule) if rule else None
    rule = rule or RetentionRule(tenant_id=tenant.id, kind=kind, created_by=by)
    rule.years, rule.days, rule.trigger = years, days, trigger
    session.add(rule)
    session.flush()
    session.add(AuditEntry(tenant_id=tenant.id, action="retention_rule_set", reason=kind,
                           detail={"before": before, "after": describe(rule), "by": by}))
    return rule


def remove_rule(session: Session, tenant: Tenant, kind: str, by: str = "") -> None:
    rule = session.exec(select(RetentionRule).where(RetentionRule.tenant_id == tenant.id,
                                                    RetentionRule.kind == kind)).first()
    if rule is None:
        raise InputError(f"there is no retention rule for {kind}")
    session.add(AuditEntry(tenant_id=tenant.id, action="retention_rule_removed", reason=kind,
                           detail={"before": describe(rule), "by": by}))
    session.delete(rule)
    session.flush()


def close(session: Session, tenant: Tenant, record: Record, when: datetime | None, by: str = "") -> Record:
    """Close ``record`` at ``when`` (a rule "after close" counts from then), or reopen it (None)."""
    if record.tenant_id != tenant.id:
        raise InputError(f"no record {record.id}")
    record.closed_at = when
    session.add(record)
    session.add(AuditEntry(tenant_id=tenant.id, action="record_closed" if when else "record_reopened",
                           reason=record.kind,
                           detail={"record": record.id, "closed_at": when.isoformat() if when else None, "by": by}))
    session.flush()
    return record


def rules(session: Session, tenant: Tenant) -> list[RetentionRule]:
    return list(session.exec(select(RetentionRule).where(RetentionRule.tenant_id == tenant.id)
                             .order_by(col(RetentionRule.kind))))


def register(session: Session, tenant: Tenant, limit: int = 200) -> list[DisposalRecord]:
    return list(session.exec(select(DisposalRecord).where(DisposalRecord.tenant_id == tenant.id)
                             .order_by(col(DisposalRecord.disposed_at).desc(), col(DisposalRecord.id).desc())
                             .limit(limit)))


def add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February in a year without one
        return moment.replace(year=moment.year + years, day=28)


def expires(rule: RetentionRule, start: datetime) -> datetime:
    return add_years(start, rule.years) + timedelta(days=rule.days)


@dataclass(frozen=True)
class Due:
    activity_id: int
    internet_message_id: str
    subject: str
    rule: RetentionRule
    record_id: int


@dataclass
class RetentionReport:
    tenant_id: int
    dry_run: bool
    due: list[Due] = field(default_factory=list)  # disposed of (or, in a dry run, would be)
    held: dict[int, int] = field(default_factory=dict)  # activity id → the hold that kept it
    attachments: int = 0
    originals: int = 0


def _record_starts(session: Session, tenant_id: int, rule: RetentionRule) -> dict[int, datetime]:
    """Record id → the moment its rule's period starts from (records that have none are not listed)."""
    if rule.trigger == RetentionTrigger.AFTER_CLOSE:
        rows = session.exec(select(Record.id, Record.closed_at).where(
            Record.tenant_id == tenant_id, Record.kind == rule.kind, col(Record.closed_at).is_not(None)))
    else:
        moment = func.max(func.coalesce(col(Activity.sent_at), col(Activity.logged_at)))
        rows = session.exec(select(Record.id, moment)
                            .join(ActivityLink, col(ActivityLink.record_id) == col(Record.id))
                            .join(Activity, col(Activity.id) == col(ActivityLink.activity_id))
                            .where(Record.tenant_id == tenant_id, Record.kind == rule.kind)
                            .group_by(col(Record.id)))
    return {record_id: start for record_id, start in rows if record_id is not None and start is not None}


def _expired(session: Session, tenant_id: int, now: datetime) -> tuple[dict[int, RetentionRule], set[int]]:
    """The records whose period ran out (with their rule), and every record kept by a rule that has not."""
    expired: dict[int, RetentionRule] = {}
    keeping: set[int] = set()
    for rule in session.exec(select(RetentionRule).where(RetentionRule.tenant_id == tenant_id)):
        starts = _record_starts(session, tenant_id, rule)
        for record_id, start in starts.items():
            if expires(rule, start) <= now:
                expired[record_id] = rule
        keeping |= set(session.exec(select(Record.id).where(
            Record.tenant_id == tenant_id, Record.kind == rule.kind)).all()) - set(expired)
    return expired, {r for r in keeping if r is not None}


def due(session: Session, tenant_id: int, now: datetime) -> tuple[list[Due], dict[int, int]]:
    """What is due for disposal at ``now``, and what a legal hold keeps (activity id → hold id)."""
    expired, keeping = _expired(session, tenant_id, now)
    done = select(DisposalRecord.activity_id).where(DisposalRecord.tenant_id == tenant_id)
    links: dict[int, list[int]] = {}
    for chunk in chunks(expired):
        for activity_id, record_id in session.exec(
                select(ActivityLink.activity_id, ActivityLink.record_id)
                .where(col(ActivityLink.record_id).in_(chunk), col(ActivityLink.activity_id).not_in(done))):
            links.setdefault(activity_id, []).append(record_id)
    kept = set()
    for chunk in chunks(links):
        kept |= set(session.exec(select(ActivityLink.activity_id).where(
            col(ActivityLink.activity_id).in_(chunk), col(ActivityLink.record_id).in_(keeping))).all())
    candidates = [a for a in links if a not in kept]
    held = holds.held_activities(session, tenant_id, candidates) if candidates else {}
    found: list[Due] = []
    for chunk in chunks(a for a in candidates if a not in held):
        for activity in session.exec(select(Activity).where(col(Activity.id).in_(chunk))):
            assert activity.id is not None
            record_id = min(links[activity.id])
            found.append(Due(activity.id, activity.internet_message_id, activity.subject, expired[record_id],
                             record_id))
    return sorted(found, key=lambda d: d.activity_id), held


def run(session: Session, tenant: Tenant, now: datetime, *, dry_run: bool = False, by: str = "",
        store: BlobStore | None = None) -> RetentionReport:
    """Dispose of what is due in ``tenant`` (nothing is changed in a dry run)."""
    assert tenant.id is not None
    found, held = due(session, tenant.id, now)
    report = RetentionReport(tenant.id, dry_run, found, held)
    if dry_run:
        return report
    for item in found:
        _dispose(session, item, report, by, store)
    if found or held:
        session.add(AuditEntry(tenant_id=tenant.id, action=RUN_ACTION, reason=by, at=now,
                               detail={"disposed": len(found), "held": len(held), "attachments": report.attachments,
                                       "originals": report.originals,
                                       "rules": sorted({describe(d.rule) for d in found})}))
    session.flush()
    return report


def _dispose(session: Session, item: Due, report: RetentionReport, by: str, store: BlobStore | None) -> None:
    activity = session.get(Activity, item.activity_id)
    assert activity is not None
    what = []
    if activity.text or activity.html:
        activity.text, activity.html = "", None
        what.append("body")
        session.add(activity)
    attachments = session.exec(select(Attachment).where(Attachment.activity_id == item.activity_id)).all()
    if attachments:
        report.attachments += disposal.drop_attachments(session, activity.tenant_id, attachments, store)
        what.append(f"attachments ({len(attachments)})")
    if (originals := disposal.drop_originals(session, [item.activity_id], store)):
        report.originals += originals
        what.append("original MIME")
    session.add(DisposalRecord(tenant_id=activity.tenant_id, activity_id=item.activity_id,
                               internet_message_id=item.internet_message_id, rule_id=item.rule.id,
                               rule=describe(item.rule), record_id=item.record_id, disposed=what, disposed_by=by))


def run_all(engine: Engine, now: datetime, *, dry_run: bool = False, by: str = "schedule") -> list[RetentionReport]:
    """Every company with a rule, each in a transaction of its own."""
    with Session(engine) as session:
        tenant_ids = sorted(set(session.exec(select(RetentionRule.tenant_id)).all()))
    reports = []
    for tenant_id in tenant_ids:
        with transaction(engine) as session:
            tenant = session.get(Tenant, tenant_id)
            if tenant is not None:
                reports.append(run(session, tenant, now, dry_run=dry_run, by=by))
    return reports


def run_if_due(engine: Engine, now: datetime, every: timedelta = timedelta(days=1)) -> list[RetentionReport] | None:
    """The worker's daily disposal: run unless a run was recorded less than ``every`` ago (any worker's)."""
    with Session(engine) as session:  # newest first by id: reads back only as far as the last run
        last = session.exec(select(AuditEntry.at).where(AuditEntry.action == RUN_ACTION)
                            .order_by(col(AuditEntry.id).desc()).limit(1)).first()
    if last is not None and now - last < every:
        return None
    reports = run_all(engine, now)
    if reports and not any(r.due or r.held for r in reports):  # nothing written: mark the day for other workers
        with transaction(engine) as session:
            session.add(AuditEntry(action=RUN_ACTION, reason="schedule", at=now, detail={"disposed": 0}))
    return reports
