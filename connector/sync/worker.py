"""`bcc-capture worker`: claim due mailboxes under a lease and sync them until their feed is drained."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from connector.config import Settings
from connector.sync import leases
from connector.sync.engine import StepResult, SyncEngine
from connector.sync.schedule import renew_subscriptions
from providers.base import Provider

log = logging.getLogger("bcc_capture.worker")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 10000}"


class Worker:
    def __init__(self, engine: Engine, settings: Settings, sync: SyncEngine, providers: Mapping[str, Provider],
                 owner: str | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 batch: int = 10, max_pages: int = 50) -> None:
        self.engine = engine
        self.settings = settings
        self.sync = sync
        self.providers = providers
        self.owner = owner or worker_id()
        self.clock = clock
        self.batch = batch
        self.max_pages = max_pages  # per mailbox per claim, so one busy mailbox cannot starve the rest

    def run_once(self) -> list[StepResult]:
        """One round: claim due mailboxes, drain each (bounded), release. Returns every step's result."""
        ttl = self.settings.sync.lease_seconds
        results: list[StepResult] = []
        for mailbox_id in leases.claim_due(self.engine, self.owner, self.clock(), self.batch, ttl):
            try:
                for _ in range(self.max_pages):
                    with leases.heartbeat(self.engine, mailbox_id, self.owner, ttl, self.clock):
                        result = self.sync.step(mailbox_id, self.owner)
                    results.append(result)
                    log.info("sync step", extra={"mailbox_id": mailbox_id, "ok": result.ok, "more": result.more,
                                                 "logged": result.logged, "action": result.action})
                    if not (result.ok and result.more):
                        break
                    if not leases.renew(self.engine, mailbox_id, self.owner, self.clock(), ttl):
                        break
            finally:
                leases.release(self.engine, mailbox_id, self.owner)
        return results

    def tick_schedules(self) -> int:
        return renew_subscriptions(self.engine, self.sync, self.providers, self.clock(), self.settings, self.owner,
                                   on_error=lambda mid, exc: log.warning("renewal failed", extra={
                                       "mailbox_id": mid, "error": str(exc)}))

    def run_forever(self, stop: threading.Event, idle_seconds: float = 0.5,
                    schedule_every: float = 60.0) -> None:
        last_schedule = 0.0
        while not stop.is_set():
            now = self.clock().timestamp()
            if now - last_schedule >= schedule_every:
                self.tick_schedules()
                last_schedule = now
            if not self.run_once():
                stop.wait(idle_seconds)
