"""`bcc-capture worker`: claim due mailboxes under a lease and sync them until their feed is drained."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from connector.config import Settings
from connector.events.delivery import Dispatcher
from connector.ports import Provider
from connector.services.import_runner import ImportRunner
from connector.services.retention import run_if_due
from connector.sync import leases
from connector.sync.engine import StepResult, SyncEngine
from connector.sync.probes import Heartbeat, count_mailboxes
from connector.sync.schedule import RenewalBackoff, due_for_renewal, renew_subscriptions
from connector.sync.wakeups import WakeSignal

log = logging.getLogger("bcc_capture.worker")
RETENTION_CHECK = timedelta(hours=1)  # how often a worker asks whether the daily disposal is due


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
        self.batch = batch  # mailboxes claimed by one `run_once` round
        self.max_pages = max_pages  # per mailbox per claim, so one busy mailbox cannot starve the rest
        self.heartbeat = Heartbeat()  # /readyz: the loop is going round
        self.renewals = RenewalBackoff()  # failed subscription renewals wait before they are tried again
        self.renewals_pending = False  # a due renewal was skipped (its mailbox leased): tick again next round
        self.retention_checked: datetime | None = None

    def run_once(self, owner: str | None = None, limit: int | None = None,
                 stop: threading.Event | None = None) -> list[StepResult]:
        """One round: claim due mailboxes, drain each (bounded), release. Returns every step's result.

        Once ``stop`` is set the current step is finished and committed, and no further step starts: a
        process told to stop (SIGTERM) hands its mailboxes back at once instead of after the lease TTL.
        """
        owner = owner or self.owner
        ttl = self.settings.sync.lease_seconds
        results: list[StepResult] = []
        for mailbox_id in leases.claim_due(self.engine, owner, self.clock(), limit or self.batch, ttl):
            try:
                for _ in range(self.max_pages):
                    with leases.heartbeat(self.engine, mailbox_id, owner, ttl, self.clock):
                        result = self.sync.step(mailbox_id, owner)
                    results.append(result)
                    self.heartbeat.beat()
                    log.info("sync step", extra={"mailbox_id": mailbox_id, "ok": result.ok, "more": result.more,
                                                 "logged": result.logged, "action": result.action, **result.timings})
                    if not (result.ok and result.more) or (stop is not None and stop.is_set()):
                        break
                    if not leases.renew(self.engine, mailbox_id, owner, self.clock(), ttl):
                        break
            finally:
                leases.release(self.engine, mailbox_id, owner)
        return results

    def tick_schedules(self) -> int:
        count_mailboxes(self.engine)
        now = self.clock()
        self._dispose_daily(now)
        changed = renew_subscriptions(self.engine, self.sync, self.providers, now, self.settings, self.owner,
                                      on_error=self._renewal_failed, backoff=self.renewals)
        # A mailbox whose lease a sync step held (a new mailbox's first sync) is tried again next round, not a
        # schedule interval later: until it is subscribed, its mail waits for the safety-net sync.
        self.renewals_pending = any(not self.renewals.waiting(mailbox_id, now)
                                    for mailbox_id in due_for_renewal(self.engine, now, self.settings))
        return changed

    def _dispose_daily(self, now: datetime) -> None:
        """Retention's disposal, once a day whatever the number of workers (the audit says when it last ran)."""
        if self.retention_checked is not None and now - self.retention_checked < RETENTION_CHECK:
            return
        self.retention_checked = now
        try:
            run_if_due(self.engine, now)
        except Exception:  # tried again at the next check; syncing goes on meanwhile
            log.exception("retention run failed")

    @staticmethod
    def _renewal_failed(mailbox_id: int, error: Exception, retry_at: datetime) -> None:
        log.warning("subscription renewal failed", extra={"mailbox_id": mailbox_id, "error": f"{type(error).__name__}: "
                                                          f"{error}", "retry_at": retry_at.isoformat()})

    def run_forever(self, stop: threading.Event, idle_seconds: float | None = None,
                    schedule_every: float = 60.0) -> None:
        """Sync with ``settings.sync.worker_threads`` threads until ``stop`` is set.

        Threads let one process overlap the steps' waits on Microsoft and Google (each thread holds
        its own leases); idle threads sleep until a wake-up is announced (PostgreSQL) or the poll. One more
        thread runs uploaded archive imports, so a long import never holds up a mailbox.
        """
        idle = self.settings.sync.idle_poll_seconds if idle_seconds is None else idle_seconds
        signal = WakeSignal(self.engine)
        signal.start(stop)
        threads = [threading.Thread(target=self._loop, args=(stop, signal, f"{self.owner}/{n}", idle),
                                    name=f"sync-{n}", daemon=True)
                   for n in range(1, self.settings.sync.worker_threads)]
        # Events to the host system go out from a thread of their own: a slow receiver never holds up a mailbox.
        events = Dispatcher(self.engine, self.settings.events, self.sync.cipher, self.clock)
        threads.append(threading.Thread(target=events.loop, args=(stop,), name="events", daemon=True))
        imports = ImportRunner(self.engine, self.settings, f"{self.owner}/imports", self.clock)
        threads.append(threading.Thread(target=imports.loop, args=(stop,), name="imports", daemon=True))
        for thread in threads:
            thread.start()
        last_schedule = 0.0

        def on_round() -> None:
            nonlocal last_schedule
            now = self.clock().timestamp()
            if self.renewals_pending or now - last_schedule >= schedule_every:
                self.tick_schedules()
                last_schedule = now

        self._loop(stop, signal, f"{self.owner}/0", idle, on_round)
        for thread in threads:
            thread.join()

    def _loop(self, stop: threading.Event, signal: WakeSignal, owner: str, idle: float,
              on_round: Callable[[], None] = lambda: None) -> None:
        while not stop.is_set():
            self.heartbeat.beat()
            on_round()
            seen = signal.generation  # before claiming: a wake-up announced during the round is not slept through
            try:
                busy = bool(self.run_once(owner, limit=1, stop=stop))  # one at a time: the oldest wake-up next
            except Exception:  # the database went away for a moment: keep the thread, try again later
                log.exception("sync round failed", extra={"owner": owner})
                busy = False
            if not busy:
                signal.wait(seen, idle)
            if stop.is_set():
                return
