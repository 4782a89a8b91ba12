"""Archive imports started from the console or the API: create one from an upload, list a company's, and read
one's progress (messages done of the total, rate, time left) and its result (filed, unassigned, refused,
unreadable, each by reason). A worker runs them (`services.import_runner`).

Progress is read from the sources' `ImportCheckpoint` rows, which the import commits with every batch it
files: what the view shows is exactly what is filed, and a worker killed mid-import loses none of it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, func, select

from connector.errors import InputError
from connector.models import ImportCheckpoint, ImportJob, ImportState, Tenant, User
from connector.services.import_spool import Upload
from connector.services.owned import company_row

OUTCOME_NAMES = {"logged": "filed"}  # the tally's outcomes as the summary names them
GROUPS = ("filed", "unassigned", "refused", "ignored", "unreadable")


@dataclass(frozen=True)
class JobStatus:
    job: ImportJob
    done: int  # messages read so far, across every run
    rate: float | None  # messages per second in the current (or last) run
    eta_seconds: float | None
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)  # filed/unassigned/… → reason → messages

    @property
    def percent(self) -> int | None:
        total = self.job.total
        return None if not total else min(100, round(100 * self.done / total))

    def count(self, group: str) -> int:
        return sum(self.outcomes.get(group, {}).values())


def create_job(session: Session, tenant: Tenant, upload: Upload, via: str, created_by: str,
               mailbox: str = "") -> ImportJob:
    """The import of a finished upload, waiting for a worker (committed by the caller)."""
    mailbox = mailbox.strip().lower()
    if mailbox:
        user = session.exec(select(User).where(User.email == mailbox)).first()
        if user is None or user.tenant_id != tenant.id:
            raise InputError(f"{mailbox} is not a user of {tenant.name}")
    if not upload.names:
        raise InputError("the upload holds no file")
    assert tenant.id is not None
    job = ImportJob(tenant_id=tenant.id, mailbox=mailbox, via=via, created_by=created_by,
                    filename=", ".join(upload.names)[:500], directory=str(upload.directory), bytes=upload.written)
    session.add(job)
    session.flush()
    return job


def list_jobs(session: Session, tenant: Tenant, limit: int = 50) -> list[ImportJob]:
    return list(session.exec(select(ImportJob).where(ImportJob.tenant_id == tenant.id)
                             .order_by(col(ImportJob.id).desc()).limit(limit)))


def get_job(session: Session, tenant: Tenant, job_id: int) -> ImportJob:
    """Import ``job_id`` of ``tenant``; another company's reads as missing."""
    return company_row(session, ImportJob, job_id, tenant, "import")


def status(session: Session, job: ImportJob, now: datetime) -> JobStatus:
    marks = list(session.exec(select(ImportCheckpoint).where(*_sources_of(job))))
    done = sum(m.messages for m in marks)
    tally: Counter[str] = Counter()
    for mark in marks:
        tally.update(mark.tally)
    tally.update(job.result.get("whole_files", {}))
    return JobStatus(job, done, *_pace(job, done, now), _grouped(tally))


def done_messages(session: Session, job: ImportJob) -> int:
    found = session.exec(select(func.coalesce(func.sum(ImportCheckpoint.messages), 0)).where(*_sources_of(job)))
    return int(found.one())


def _sources_of(job: ImportJob) -> tuple[object, ...]:
    inside = str(Path(job.directory)) + "/"
    return (ImportCheckpoint.tenant_id == job.tenant_id, ImportCheckpoint.mailbox == job.mailbox,
            col(ImportCheckpoint.source).startswith(inside, autoescape=True)
            | (ImportCheckpoint.source == job.directory))


def _pace(job: ImportJob, done: int, now: datetime) -> tuple[float | None, float | None]:
    """This run's rate and, at that rate, the time left."""
    if job.run_started_at is None:
        return None, None
    end = job.finished_at or now
    seconds = (end - job.run_started_at).total_seconds()
    moved = done - job.run_start_messages
    if seconds <= 0 or moved <= 0:
        return None, None
    rate = moved / seconds
    left = None if job.total is None or job.state != ImportState.RUNNING else max(0, job.total - done) / rate
    return rate, left


def _grouped(tally: Counter[str]) -> dict[str, dict[str, int]]:
    groups: dict[str, dict[str, int]] = {}
    for key, messages in sorted(tally.items()):
        outcome, _, reason = key.partition("/")
        group = groups.setdefault(OUTCOME_NAMES.get(outcome, outcome), {})
        group[reason] = group.get(reason, 0) + messages
    return groups
