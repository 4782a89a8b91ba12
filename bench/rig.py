"""The benchmark rig: the world of emulators/world.py (both emulators on one post office, the connector
assembled against them, every mailbox connected through the real consent flows) with a generated
workload's company, plus what only the benchmarks need: providers swapped for the naive strategy, and
in-process sync driven step by step. Only loopback is used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from subprocess import Popen
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from bench import seed
from bench.workload import Workload
from connector.config import Settings
from connector.db import transaction
from connector.models import ACTIVE_STATES, Activity, Mailbox
from connector.ports import Provider
from connector.sync.worker import Worker
from emulators.gmail import GmailEmulator
from emulators.graph import GraphEmulator
from emulators.postoffice import PostOffice
from emulators.world import BeforeStart, Plan, World, build

SECRET = "q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="
ROOT = Path(__file__).resolve().parents[1]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Rig:
    workload: Workload
    database_url: str
    sync_overrides: dict[str, Any] = field(default_factory=dict)
    webhooks: bool = False  # serve the real web app (subscriptions and watches need it to validate)
    gmail_push_interval: float | None = None  # None: the emulator's default (1 s per user, as Gmail)
    before_start: BeforeStart | None = None  # e.g. request observers
    log_dir: Path = field(default_factory=lambda: ROOT / "var" / "bench")
    world: World | None = None

    @contextmanager
    def running(self, provider_wrappers: Mapping[str, Callable[[Provider], Provider]] | None = None
                ) -> Iterator[Rig]:
        """The world with the workload's company, every mailbox connected, providers wrapped as asked."""
        people = [(u.address, u.name, u.provider) for u in self.workload.users]
        plan = Plan(self.database_url, people=people, secret_key=SECRET, sync=self.sync_overrides, migrate=True,
                    webhooks=self.webhooks, seed=11, before_start=self.before_start, push_max_backoff=5.0,
                    push_interval=self.gmail_push_interval, log_dir=self.log_dir)
        with build(plan) as world:
            self.world = world
            seed.workload_company(world.engine, self.workload)
            for person in self.workload.users:
                world.connect(person.address, person.provider)
            providers = world.assembly.providers
            for name, wrap in (provider_wrappers or {}).items():
                providers[name] = wrap(providers[name])
            try:
                yield self
            finally:
                self.world = None

    @property
    def _world(self) -> World:
        assert self.world is not None, "use the rig inside `with rig.running()`"
        return self.world

    @property
    def engine(self) -> Engine:
        return self._world.engine

    @property
    def settings(self) -> Settings:
        return self._world.settings

    @property
    def office(self) -> PostOffice:
        return self._world.sandbox.post_office

    @property
    def graph(self) -> GraphEmulator:
        return self._world.sandbox.graph

    @property
    def gmail(self) -> GmailEmulator:
        return self._world.sandbox.gmail

    # ------------------------------------------------------------------------------------- in-process sync
    def worker(self, owner: str = "bench-worker") -> Worker:
        return self._world.assembly.worker(owner=owner)

    def wake_all(self) -> None:
        """What a notification does for every active mailbox: due now."""
        with transaction(self.engine) as session:
            session.exec(update(Mailbox).where(  # type: ignore[call-overload]
                col(Mailbox.state).in_([s.value for s in ACTIVE_STATES])).values(next_sync_at=utcnow()))

    def drain(self, worker: Worker, timeout: float = 600) -> int:
        """Run the worker until no mailbox is due; returns the number of steps."""
        deadline = time.monotonic() + timeout
        steps = 0
        while time.monotonic() < deadline:
            results = worker.run_once()
            if not results:
                return steps
            steps += len(results)
        raise TimeoutError("the mailboxes did not drain in time")

    def send(self, index: int) -> None:
        message = self.workload.messages[index]
        self.office.send(message.sender.address, message.raw())

    # ------------------------------------------------------------------------------------- processes
    @property
    def processes(self) -> list[Popen[bytes]]:
        return self._world.workers.processes

    def start_worker(self, extra_env: Mapping[str, str] | None = None) -> Popen[bytes]:
        return self._world.workers.start(extra_env)

    def wait_started(self, count: int, timeout: float = 60) -> float:
        """Seconds until ``count`` worker processes are up (imports and assembly done)."""
        return self._world.workers.wait_started(count, timeout)

    # ------------------------------------------------------------------------------------- outcome
    def logged_count(self) -> int:
        with Session(self.engine) as session:
            return int(session.exec(select(func.count()).select_from(Activity)).one())

    def logged_ids(self) -> set[str]:
        return set(self._world.logged_ids())
