"""The workers' import duty: a worker process killed with SIGKILL in the middle of an uploaded archive leaves the
import to the next worker, which resumes after the last committed batch; every message is filed exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import func, select

from connector.config import ImportSettings, Settings
from connector.db import transaction
from connector.models import Activity, ImportJob, Tenant
from connector.services import import_jobs
from connector.services.import_runner import ImportRunner
from connector.services.import_spool import new_upload
from tests.conftest import World
from tests.connector.services.test_archive import ALICE, MATTER, mbox
from tests.mailbuilder import mail

MESSAGES = 120
# The doomed worker: the real runner, paced to a batch every 50 ms so that it is surely killed mid-import.
DOOMED = """
import sys, time
from connector.config import load_settings
from connector.db import make_engine
from connector.services import import_runner
advance = import_runner._Lease.advance
import_runner._Lease.advance = lambda self, *a: (time.sleep(0.05), advance(self, *a))[1]
import_runner.ImportRunner(make_engine(sys.argv[1]), load_settings(), "doomed", batch=5).run_once()
"""


def uploaded(world: World, spool: Path) -> int:
    upload = new_upload(ImportSettings(spool_dir=str(spool)))
    upload.begin("export.mbox")
    upload.write(mbox([mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject=f"Item {n}",
                            message_id=f"<item{n}@acme-law.com>") for n in range(MESSAGES)]))
    upload.end()
    with transaction(world.engine) as session:
        tenant = session.get(Tenant, world.tenant.id)
        assert tenant is not None
        job = import_jobs.create_job(session, tenant, upload, "api", "API token test")
        assert job.id is not None
        return job.id


def done(engine: Engine, job_id: int) -> int:
    with transaction(engine) as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        return import_jobs.done_messages(session, job)


def test_a_worker_killed_mid_import_is_resumed_by_the_next_and_nothing_is_filed_twice(
        world: World, settings: Settings, tmp_path: Path) -> None:
    job_id = uploaded(world, tmp_path / "spool")
    env = {**os.environ, "BCC_CAPTURE_IMPORTS__LEASE_SECONDS": "1"}
    doomed = subprocess.Popen([sys.executable, "-c", DOOMED, world.engine.url.render_as_string(hide_password=False)],
                              env=env)
    deadline = time.monotonic() + 60
    while done(world.engine, job_id) < 20:
        assert doomed.poll() is None and time.monotonic() < deadline, "the worker ended before it was killed"
        time.sleep(0.02)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait()
    killed_at = done(world.engine, job_id)
    assert 20 <= killed_at < MESSAGES
    quick = settings.model_copy(update={"imports": ImportSettings(lease_seconds=1)})
    successor = ImportRunner(world.engine, quick, "successor", batch=5)
    assert successor.run_once() is None  # the dead worker's lease still holds
    time.sleep(1.1)
    assert successor.run_once() == job_id
    with transaction(world.engine) as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        status = import_jobs.status(session, job, job.finished_at or job.created_at)
        logged = session.exec(select(func.count()).select_from(Activity).where(
            Activity.tenant_id == world.tenant.id)).one()
    assert (job.state, job.attempts, job.total, status.done) == ("done", 2, MESSAGES, MESSAGES)
    assert status.outcomes == {"filed": {"addressed": MESSAGES}}  # no 'duplicate': no batch was filed twice
    assert logged == MESSAGES
    assert job.run_start_messages == killed_at  # the rate and ETA count only what the second run did


def test_a_worker_told_to_stop_hands_the_import_back_at_once(world: World, settings: Settings,
                                                              tmp_path: Path) -> None:
    job_id = uploaded(world, tmp_path / "spool")
    runner = ImportRunner(world.engine, settings, "stopping", batch=10)
    runner.stop.set()  # SIGTERM arrived: the first batch is committed, then the job is released
    assert runner.run_once() == job_id
    with transaction(world.engine) as session:
        job = session.get(ImportJob, job_id)
        assert job is not None and (job.state, job.lease_owner) == ("running", None)
    assert done(world.engine, job_id) == 10
    assert ImportRunner(world.engine, settings, "next", batch=50).run_once() == job_id
    assert done(world.engine, job_id) == MESSAGES


def test_a_worker_process_runs_uploaded_imports_beside_its_mailboxes(world: World, settings: Settings,
                                                                     tmp_path: Path) -> None:
    from connector.crypto import TokenCipher
    from connector.sync.engine import SyncEngine
    from connector.sync.worker import Worker

    job_id = uploaded(world, tmp_path / "spool")
    quick = settings.model_copy(update={"imports": ImportSettings(poll_seconds=0.1)})
    cipher = TokenCipher(b"q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds=")
    worker = Worker(world.engine, quick, SyncEngine(world.engine, quick, {}, cipher), {})
    stop = threading.Event()
    running = threading.Thread(target=worker.run_forever, args=(stop,), kwargs={"idle_seconds": 0.1})
    running.start()
    try:
        deadline = time.monotonic() + 60
        while done(world.engine, job_id) < MESSAGES or _state(world.engine, job_id) != "done":
            assert time.monotonic() < deadline, "the worker did not run the import"
            time.sleep(0.1)
    finally:
        stop.set()
        running.join(timeout=30)
    assert not running.is_alive()


def _state(engine: Engine, job_id: int) -> str:
    with transaction(engine) as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        return job.state
