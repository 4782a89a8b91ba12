"""Import a firm's archive (folders of .eml and .msg files, mbox files) through the one capture pipeline.

Streaming: messages are read, parsed and filed a batch at a time (`capture_batch`: one transaction, one
query per kind of look-up, multi-row inserts), so memory stays flat whatever the archive's size. Resumable:
each batch's transaction also moves its source's `ImportCheckpoint` past the batch, so after an interruption
the same command goes on after the last committed batch and nothing is filed twice (and even a message
read again would only be found by its Message-ID and recorded as the same source). Every message ends in
the summary: filed, unassigned, refused (each with its reason) or unreadable (with what was wrong); one
unreadable file or message is reported and the import goes on.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select

from connector.config import Settings
from connector.db import transaction, utcnow
from connector.errors import InputError, MimeError
from connector.mail.envelope import Envelope, Source
from connector.mail.mime import parse
from connector.models import ImportCheckpoint, Tenant, User
from connector.services.archive_msg import msg_to_rfc822
from connector.services.archive_sources import Item, read, sources
from connector.services.archive_sources import Source as ArchiveSource
from connector.services.capture import capture_batch, retrying

BATCH = 200  # messages per transaction: large enough to amortize the look-ups, small enough to lose little
KEEP_DETAILS = 1_000  # unreadable messages named in the summary (all are counted)
Clock = Callable[[], datetime]


class Progress(Protocol):
    def start(self, total_bytes: int, done_bytes: int) -> None: ...
    def advance(self, messages: int, size: int) -> None: ...


class _Silent:
    def start(self, total_bytes: int, done_bytes: int) -> None:
        pass

    def advance(self, messages: int, size: int) -> None:
        pass


@dataclass
class Summary:
    messages: int = 0  # read in this run
    tally: Counter[str] = field(default_factory=Counter)  # "outcome/reason" → messages, this run
    earlier: Counter[str] = field(default_factory=Counter)  # the same for what earlier runs filed
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (which, why), the first KEEP_DETAILS
    already_imported: list[str] = field(default_factory=list)  # sources an earlier run finished
    resumed: list[str] = field(default_factory=list)  # sources an earlier run had begun

    def count(self, outcome: str) -> int:
        return sum(n for key, n in self.tally.items() if key.partition("/")[0] == outcome)

    def as_dict(self) -> dict[str, object]:
        return {"messages": self.messages, "tally": dict(self.tally), "earlier": dict(self.earlier),
                "unreadable": [{"message": which, "reason": why} for which, why in self.unreadable],
                "already_imported": self.already_imported, "resumed": self.resumed}


@dataclass(frozen=True)
class Job:
    tenant_id: int
    mailbox: str  # "" reads the archive as mail sent to the dropbox; else as this user's mailbox
    settings: Settings
    clock: Clock


def import_archive(engine: Engine, settings: Settings, tenant: str, paths: Sequence[Path], mailbox: str | None = None,
                   *, again: bool = False, progress: Progress | None = None, batch: int = BATCH,
                   clock: Clock = lambda: datetime.now(UTC)) -> Summary:
    """File every message under ``paths`` for company ``tenant``; ``again`` forgets earlier runs' checkpoints."""
    job = _job(engine, settings, tenant, (mailbox or "").strip().lower(), clock)
    summary = Summary()
    found: list[ArchiveSource] = []
    for entry in sources(list(paths)):
        if isinstance(entry, ArchiveSource):
            found.append(entry)
        else:
            _unreadable(summary, str(entry[0]), entry[1], count="unreadable/no_such_path")
    checkpoints = _checkpoints(engine, job, found, again)
    shown = progress or _Silent()
    shown.start(sum(s.size for s in found), sum(_done_bytes(s, checkpoints.get(str(s.path))) for s in found))
    for source in found:
        mark = checkpoints.get(str(source.path))
        summary.earlier.update(mark.tally if mark else {})
        if mark is not None and mark.finished_at is not None:
            summary.already_imported.append(str(source.path))
            continue
        if mark is not None and mark.position:
            summary.resumed.append(str(source.path))
        _import_source(engine, job, source, mark.position if mark else "", summary, shown, batch)
    return summary


def _job(engine: Engine, settings: Settings, slug: str, mailbox: str, clock: Clock) -> Job:
    with transaction(engine) as session:
        tenant = session.exec(select(Tenant).where(Tenant.slug == slug)).first()
        if tenant is None or tenant.id is None:
            raise InputError(f"no company {slug!r}")
        if mailbox:
            user = session.exec(select(User).where(User.email == mailbox)).first()
            if user is None or user.tenant_id != tenant.id:
                raise InputError(f"{mailbox} is not a user of {slug}")
        return Job(tenant.id, mailbox, settings, clock)


def _checkpoints(engine: Engine, job: Job, found: list[ArchiveSource], again: bool) -> dict[str, ImportCheckpoint]:
    names = [str(s.path) for s in found]
    with transaction(engine) as session:
        mine = (ImportCheckpoint.tenant_id == job.tenant_id, ImportCheckpoint.mailbox == job.mailbox)
        if again:
            session.exec(delete(ImportCheckpoint).where(*mine, col(ImportCheckpoint.source).in_(names)))  # type: ignore[call-overload]
            return {}
        return {c.source: c for c in session.exec(select(ImportCheckpoint).where(
            *mine, col(ImportCheckpoint.source).in_(names)))}


def _import_source(engine: Engine, job: Job, source: ArchiveSource, position: str, summary: Summary,
                   progress: Progress, batch: int) -> None:
    try:
        for items in _batches(read(source, position), batch):
            parsed = [(item, *_envelope(item, job)) for item in items]
            for item, envelope, problem in parsed:
                if envelope is None:
                    _unreadable(summary, item.label, problem)
            retrying(lambda: _file_batch(engine, job, source, parsed, summary))  # noqa: B023 (called at once)
            summary.messages += len(items)
            progress.advance(len(items), sum(item.size for item in items))
    except (InputError, OSError) as exc:  # the source itself went unreadable: report it and go on
        _unreadable(summary, str(source.path), str(exc), count="unreadable/unreadable_source")
        return
    with transaction(engine) as session:
        _checkpoint(session, job, source).finished_at = utcnow()


def _file_batch(engine: Engine, job: Job, source: ArchiveSource,
                parsed: list[tuple[Item, Envelope | None, str]], summary: Summary) -> None:
    """One transaction: the batch's mail and the checkpoint after it (so a crash redoes exactly this batch)."""
    tally: Counter[str] = Counter(f"unreadable/{problem.partition(':')[0].replace(' ', '_')}"
                                  for _, envelope, problem in parsed if envelope is None)
    with transaction(engine) as session:
        filed = capture_batch(session, job.settings, job.clock, [e for _, e, _ in parsed if e is not None],
                              tenant_id=job.tenant_id)
        tally.update(f"{applied.outcome.value}/{applied.reason.value}" for _, applied in filed)
        mark = _checkpoint(session, job, source)
        mark.position = parsed[-1][0].position
        mark.messages += len(parsed)
        mark.tally = dict(Counter(mark.tally) + tally)
        mark.updated_at = utcnow()
        session.add(mark)
    summary.tally.update(tally)  # after the commit: a retried batch is counted once


def _checkpoint(session: Session, job: Job, source: ArchiveSource) -> ImportCheckpoint:
    found = session.exec(select(ImportCheckpoint).where(
        ImportCheckpoint.tenant_id == job.tenant_id, ImportCheckpoint.mailbox == job.mailbox,
        ImportCheckpoint.source == str(source.path))).first()
    if found is None:
        found = ImportCheckpoint(tenant_id=job.tenant_id, mailbox=job.mailbox, source=str(source.path),
                                 kind=source.kind)
    session.add(found)
    return found


def _envelope(item: Item, job: Job) -> tuple[Envelope | None, str]:
    """The item parsed, or None and what was wrong ('cannot read: …', 'unparseable: …')."""
    if item.raw is None:
        return None, item.problem
    try:
        raw = msg_to_rfc822(item.raw) if item.outlook else item.raw
        return parse(raw, source=Source.FILE if job.mailbox else Source.SMTP, mailbox=job.mailbox), ""
    except MimeError as exc:
        return None, f"unparseable: {exc}"


def _unreadable(summary: Summary, which: str, why: str, count: str = "") -> None:
    """Name it in the summary; ``count`` it there too when no batch will (a whole path)."""
    if len(summary.unreadable) < KEEP_DETAILS:
        summary.unreadable.append((which, why))
    if count:
        summary.tally[count] += 1


def _batches(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _done_bytes(source: ArchiveSource, mark: ImportCheckpoint | None) -> int:
    """How much of a source earlier runs filed, for the progress bar of a resumed import."""
    if mark is None or not mark.position:
        return 0
    if mark.finished_at is not None or source.kind == "file":
        return source.size
    if source.kind == "mbox":
        return int(mark.position)
    return sum(entry.stat().st_size for entry in os.scandir(source.path)
               if entry.is_file() and entry.name <= mark.position)
