"""`bcc-capture worker` as an orchestrator runs it: SIGTERM mid-sync finishes the step and hands back every lease."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, col, select

from connector.models import Mailbox
from connector.web.server import free_port
from emulators.world import Plan, World, build
from tests.conftest import build_world

SECRET = "q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="
PEOPLE = [("alice@acme-law.com", "Alice Archer", "graph"), ("bob@acme-law.com", "Bob Baker", "graph")]


@pytest.fixture
def world(fresh_pg_url: str, tmp_path: Path) -> Iterator[World]:
    plan = Plan(fresh_pg_url, people=PEOPLE, secret_key=SECRET, migrate=True, webhooks=False, log_dir=tmp_path,
                sync={"worker_threads": 2, "idle_poll_seconds": 0.2})
    with build(plan) as world:
        build_world(world.engine)
        for address, _, provider in PEOPLE:
            world.connect(address, provider)
        yield world


def _held_leases(world: World) -> list[str]:
    with Session(world.engine) as session:
        return [m.lease_owner for m in session.exec(select(Mailbox).where(col(Mailbox.lease_owner).is_not(None)))]


def test_sigterm_during_a_slow_sync_releases_every_mailbox_and_exits_cleanly(world: World) -> None:
    world.sandbox.graph.faults.delay_responses(1.0, probability=1.0)  # every Graph call takes a second
    worker = world.workers.start()
    world.workers.wait_started(1)
    deadline = time.monotonic() + 60
    while not _held_leases(world) and time.monotonic() < deadline:  # a step is under way
        time.sleep(0.1)
    assert _held_leases(world), "the worker never claimed a mailbox"
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    assert _held_leases(world) == []  # released, not left to expire after sync.lease_seconds
    assert b"stopped; its mailboxes are released" in world.workers.log(0).read_bytes()


def test_a_worker_process_serves_its_own_health_readiness_and_metrics(world: World) -> None:
    port = free_port()
    world.workers.start({"BCC_CAPTURE_SYNC__PROBE_PORT": str(port)})
    world.workers.wait_started(1)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    exported = ""
    while time.monotonic() < deadline and 'bcc_capture_mailboxes{state="incremental"} 2.0' not in exported:
        time.sleep(0.3)  # both mailboxes finish their first sync and the schedule tick counts them
        exported = httpx.get(f"{base}/metrics", timeout=5).text
    assert 'bcc_capture_mailboxes{state="incremental"} 2.0' in exported
    assert 'bcc_capture_sync_steps_total{provider="graph"}' in exported
    assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz", timeout=5).json() == {"status": "ready"}
