"""Reading back what capture wrote, in the words a user would use (records by number or e-mail)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.models import (
    Activity,
    ActivityLink,
    ActivitySource,
    Attachment,
    AuditEntry,
    Participant,
    Record,
    Unassigned,
)


def record_key(record: Record) -> str:
    return f"{record.kind}:{record.number or record.email or record.title}"


@dataclass
class Logged:
    activity: Activity
    filed_under: set[str]
    participants: set[tuple[str, str, str]]
    sources: set[tuple[str, str]]
    attachments: list[Attachment]


def logged(engine: Engine, imid: str) -> Logged | None:
    with Session(engine) as session:
        activity = session.exec(select(Activity).where(Activity.internet_message_id == imid)).first()
        if activity is None:
            return None
        links = session.exec(select(Record).join(ActivityLink, col(ActivityLink.record_id) == col(Record.id))
                             .where(ActivityLink.activity_id == activity.id)).all()
        participants = session.exec(select(Participant).where(Participant.activity_id == activity.id)).all()
        sources = session.exec(select(ActivitySource).where(ActivitySource.activity_id == activity.id)).all()
        attachments = session.exec(select(Attachment).where(Attachment.activity_id == activity.id)).all()
        return Logged(activity, {record_key(r) for r in links}, {(p.email, p.role, p.kind) for p in participants},
                      {(s.source, s.mailbox) for s in sources}, list(attachments))


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return len(session.exec(select(model)).all())


def people(engine: Engine, kind: str) -> dict[str, Record]:
    with Session(engine) as session:
        return {str(r.email): r for r in session.exec(select(Record).where(Record.kind == kind))}


def audit_reasons(engine: Engine, action: str) -> list[str]:
    with Session(engine) as session:
        return [a.reason for a in session.exec(select(AuditEntry).where(AuditEntry.action == action)
                                               .order_by(col(AuditEntry.id)))]


def unassigned(engine: Engine) -> list[Unassigned]:
    with Session(engine) as session:
        return list(session.exec(select(Unassigned)))


def snapshot(engine: Engine) -> dict[str, object]:
    """Everything capture wrote that a user could see, independent of row ids and arrival order."""
    with Session(engine) as session:
        acts = session.exec(select(Activity)).all()
        threads: dict[int, set[str]] = {}
        for act in acts:
            threads.setdefault(act.thread_id, set()).add(act.internet_message_id)
        result: dict[str, object] = {"threads": sorted(sorted(t) for t in threads.values())}
        for act in acts:
            found = logged(engine, act.internet_message_id)
            assert found is not None
            result[act.internet_message_id] = (sorted(found.filed_under), sorted(found.participants),
                                               sorted(found.sources), act.direction, act.subject)
        result["records"] = sorted(record_key(r) for r in session.exec(select(Record)))
        return result


def people_by_kind(engine: Engine, kind: str) -> list[Record]:
    with Session(engine) as session:
        return list(session.exec(select(Record).where(Record.kind == kind)))
