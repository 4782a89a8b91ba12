"""The workers' import duty: claim an uploaded archive under a lease and import it through the same service as
`bcc-capture import` (`services.archive`), then record its summary.

Resumable: the archive service commits each batch with its source's checkpoint, so a worker killed mid-import
leaves a lease that expires (`imports.lease_seconds`) and the next worker to claim the job goes on after the
last committed batch; nothing is filed twice. A live worker renews its lease after every batch. An upload that
cannot be read at all (a broken .zip) fails with its reason; a job that keeps killing its workers stops after
`MAX_ATTEMPTS` runs.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connector.config import Settings
from connector.db import transaction
from connector.errors import InputError
from connector.models import ImportJob, ImportState, Tenant
from connector.services.archive import Summary, import_archive
from connector.services.import_jobs import done_messages
from connector.services.import_spool import count_messages, unpack

log = logging.getLogger("bcc_capture.imports")
MAX_ATTEMPTS = 5
Clock = Callable[[], datetime]
_SPOOLED_NAME = re.compile(r"(^|/|\s)\d{4,6}-")  # the order prefix the spool gives each uploaded file
_WHOLE_FILES = ("unreadable/no_such_path", "unreadable/unreadable_source")  # counted by no checkpoint


class LeaseLost(Exception):
    """Another worker took the job over (this one stalled past its lease): stop after the committed batch."""


class Stopping(Exception):
    """The worker is told to stop (SIGTERM): hand the job back after the committed batch."""


class ImportRunner:
    def __init__(self, engine: Engine, settings: Settings, owner: str,
                 clock: Clock = lambda: datetime.now(UTC), batch: int | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.owner = owner
        self.clock = clock
        self.batch = batch  # messages per transaction (None: the archive service's own)
        self.stop = threading.Event()

    def loop(self, stop: threading.Event) -> None:
        """Run pending imports one after another until ``stop``; look again every `imports.poll_seconds`. A
        stop mid-import hands the job back after its current batch, for any worker to resume at once."""
        self.stop = stop
        while not stop.is_set():
            try:
                busy = self.run_once() is not None
            except Exception:  # the database went away for a moment: the lease lets another worker resume
                log.exception("import round failed", extra={"owner": self.owner})
                busy = False
            if not busy:
                stop.wait(self.settings.imports.poll_seconds)

    def run_once(self) -> int | None:
        """Claim one import whose lease is free and run it to the end; its id, or None when there was none."""
        job_id = self.claim()
        if job_id is None:
            return None
        try:
            self._run(job_id)
        except LeaseLost:
            log.warning("import taken over by another worker", extra={"import_id": job_id})
        except Stopping:
            self.release(job_id)
        except InputError as exc:  # the upload cannot be read (a broken .zip, a user since deleted)
            self._finish(job_id, ImportState.FAILED, error=str(exc))
        return job_id

    def claim(self) -> int | None:
        now = self.clock()
        free = or_(col(ImportJob.lease_until).is_(None), col(ImportJob.lease_until) < now)
        waiting = col(ImportJob.state).in_([ImportState.PENDING.value, ImportState.RUNNING.value])
        with Session(self.engine) as session:
            statement = select(ImportJob.id).where(waiting, free).order_by(col(ImportJob.id)).limit(1)
            if self.engine.dialect.name == "postgresql":
                statement = statement.with_for_update(skip_locked=True)
            job_id = session.exec(statement).first()
            if job_id is None:
                return None
            # Conditional, so that two SQLite processes reading the same free job cannot both take it.
            taken = session.exec(update(ImportJob).where(  # type: ignore[call-overload]
                col(ImportJob.id) == job_id, waiting, free).values(
                state=ImportState.RUNNING.value, lease_owner=self.owner, lease_until=self._until(now),
                attempts=ImportJob.attempts + 1))
            session.commit()
            return job_id if taken.rowcount else None

    def _run(self, job_id: int) -> None:
        with transaction(self.engine) as session:
            job = session.get(ImportJob, job_id)
            assert job is not None
            tenant = session.get(Tenant, job.tenant_id)
            assert tenant is not None
            if job.attempts > MAX_ATTEMPTS:
                raise InputError(f"stopped after {MAX_ATTEMPTS} interrupted runs")
            directory = Path(job.directory)
            unpack(directory, self.settings.imports.max_unpacked_bytes)
            job.total = count_messages(directory) if job.total is None else job.total
            job.started_at = job.started_at or self.clock()
            job.run_started_at, job.run_start_messages = self.clock(), done_messages(session, job)
            slug, mailbox = tenant.slug, job.mailbox
        extra = {} if self.batch is None else {"batch": self.batch}
        summary = import_archive(self.engine, self.settings, slug, [directory], mailbox or None,
                                 progress=_Lease(self, job_id), clock=self.clock, **extra)
        self._finish(job_id, ImportState.DONE, summary)
        shutil.rmtree(directory, ignore_errors=True)  # the mail is filed (and kept): the upload is no longer needed

    def _finish(self, job_id: int, state: ImportState, summary: Summary | None = None, error: str = "") -> None:
        with transaction(self.engine) as session:
            job = session.get(ImportJob, job_id)
            assert job is not None
            if job.lease_owner != self.owner:
                raise LeaseLost(job_id)
            job.state, job.error, job.finished_at = state.value, error, self.clock()
            job.lease_owner, job.lease_until = None, None
            if summary is not None:
                job.result = {"unreadable": [{k: _within_upload(v, job.directory) for k, v in item.items()}
                                             for item in summary.as_dict()["unreadable"]],  # type: ignore[attr-defined]
                              "whole_files": {k: n for k, n in summary.tally.items() if k in _WHOLE_FILES}}
            session.add(job)
        log.info("import finished", extra={"import_id": job_id, "state": state.value, "error": error})

    def renew(self, job_id: int) -> None:
        with Session(self.engine) as session:
            renewed = session.exec(update(ImportJob).where(  # type: ignore[call-overload]
                col(ImportJob.id) == job_id, col(ImportJob.lease_owner) == self.owner).values(
                lease_until=self._until(self.clock())))
            session.commit()
        if not renewed.rowcount:
            raise LeaseLost(job_id)

    def release(self, job_id: int) -> None:
        with Session(self.engine) as session:
            session.exec(update(ImportJob).where(  # type: ignore[call-overload]
                col(ImportJob.id) == job_id, col(ImportJob.lease_owner) == self.owner).values(
                lease_owner=None, lease_until=None))
            session.commit()

    def _until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.settings.imports.lease_seconds)


def _within_upload(text: str, directory: str) -> str:
    """A spool path as the uploader knows it: the name within the upload (the spool is nobody's business)."""
    return _SPOOLED_NAME.sub(r"\1", text.replace(directory + "/", ""))


class _Lease:
    """The archive service's progress hook: after every committed batch, the lease is renewed."""

    def __init__(self, runner: ImportRunner, job_id: int) -> None:
        self.runner = runner
        self.job_id = job_id

    def start(self, total_bytes: int, done_bytes: int) -> None:
        self.runner.renew(self.job_id)

    def advance(self, messages: int, size: int) -> None:
        if self.runner.stop.is_set():
            raise Stopping(self.job_id)
        self.runner.renew(self.job_id)
