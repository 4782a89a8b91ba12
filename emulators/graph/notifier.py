"""Change and lifecycle notification delivery, with Graph's retry and slow-endpoint behaviour.

Model (times are emulated seconds on the emulator's `Clock` unless marked *real*):

* Each change to a message that a live subscription covers becomes one POST of a
  ``changeNotificationCollection`` (``{"value": [notification]}``) to ``notificationUrl``.
  Subscriptions paused by ``reauthorizationRequired`` lose their notifications until reauthorized.
* A 2xx within ``timeout`` (3 *real* seconds) is a delivery. Anything else is retried after
  ``retry_delays`` (60 s, 2, 5, 10, 20, 30 min, then hourly) until ``max_retry_age`` (4 h) has passed
  since the first attempt; then the notification is dropped and, if the subscription has a
  ``lifecycleNotificationUrl``, a ``missed`` lifecycle notification is sent.
* Slow endpoints: a response slower than ``slow_threshold`` (2.9 *real* s; timeouts count) is slow.
  Once an endpoint has ``slow_min_samples`` (100) results in the current ``slow_window`` (10 min,
  then the counts reset), 10 % slow delays its new notifications by 10 minutes and 15 % drops them.
* Several change notifications for one ``notificationUrl`` go in one POST: a new one is sent once it is
  ``batch_window`` (0.25 *real* s) old, with every other new one for that URL due by then (at most
  ``batch_max``, 20), as Graph's ``changeNotificationCollection`` allows — its ``value`` is "the set of
  notifications being sent to the notification URL", which "can contain a mix of items for various apps and
  tenants that subscribed using the same notification URL" (learn.microsoft.com/graph/api/resources/
  changenotificationcollection). A batch that fails is retried whole.
* Fault knobs (drop, duplicate, delay, reorder) apply to new change notifications before all that.

Compress the schedule with ``Clock.set_scale``: at scale 3600 an hour of retries takes a real second.
Every attempt is recorded in `attempts()`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from emulators.clock import Clock

from .faults import FaultPlan
from .outbound import outbound_client
from .state import Change, World
from .subscriptions import Subscription, SubscriptionStore
from .wire import iso7, new_guid

logger = logging.getLogger(__name__)


@dataclass
class Job:
    url: str
    payload: dict[str, Any]
    subscription_id: str
    lifecycle: str | None  # the lifecycle event, or None for a change notification
    first_at: float
    attempt: int = 0


@dataclass(frozen=True)
class Attempt:
    at: float
    url: str
    subscription_id: str
    lifecycle: str | None
    status: int | None  # None: no HTTP answer (timeout, refused)
    outcome: str  # "delivered" | "retry" | "dropped" | "timeout" | "error"
    real_duration: float
    payload: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass
class _EndpointStats:
    window_start: float
    total: int = 0
    slow: int = 0


class Notifier:
    def __init__(self, world: World, store: SubscriptionStore, clock: Clock, faults: FaultPlan,
                 ca_path: str | None) -> None:
        self.world, self.store, self.clock, self.faults = world, store, clock, faults
        self.timeout = 3.0
        self.slow_threshold = 2.9
        self.slow_min_samples = 100
        self.slow_window = 600.0
        self.throttle_delay = 600.0
        self.retry_delays = [60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0]
        self.max_retry_age = 4 * 3600.0
        self.batch_window = 0.25  # real seconds a new change notification waits for others to the same URL
        self.batch_max = 20
        self._http = outbound_client(ca_path)
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Job]] = []
        self._counter = itertools.count()
        self._in_flight = 0
        self._stopping = False
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="graph-notify")
        self._thread = threading.Thread(target=self._loop, name="graph-notifier", daemon=True)
        self._attempts: list[Attempt] = []
        self._stats: dict[str, _EndpointStats] = {}
        self._held: list[Job] = []
        self._hold_target = 0
        self._hold_deadline = 0.0
        world.on_change(self.on_change)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def attempts(self) -> list[Attempt]:
        with self._cond:
            return list(self._attempts)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block (real seconds) until nothing is queued, held or in flight."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight or self._held:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
            return True

    # --- building notifications --------------------------------------------------------------------
    def on_change(self, change: Change) -> None:
        for sub in self.store.for_mailbox(change.user_id):
            kind = self._kind_for(sub, change)
            if kind is None or kind not in sub.change_types or sub.paused:
                continue
            self._submit_new(Job(sub.notification_url, self._payload(sub, change, kind), sub.id, None,
                                 self.clock.now()))

    def _kind_for(self, sub: Subscription, change: Change) -> str | None:
        if sub.folder_id is not None:
            return change.kind if change.folder_id == sub.folder_id else None
        message = self.world.messages.get(change.message_id)
        if change.kind == "deleted":
            return None if message is not None else "deleted"  # a move-out is not a deletion here
        if change.kind == "created" and message is not None and message.created != message.last_modified:
            return "updated"  # moved into another folder of the same mailbox
        return change.kind

    def _payload(self, sub: Subscription, change: Change, kind: str) -> dict[str, Any]:
        message = self.world.messages.get(change.message_id)
        path = f"Users/{change.user_id}/Messages/{change.message_id}"
        resource_data: dict[str, Any] = {"@odata.type": "#Microsoft.Graph.Message", "@odata.id": path}
        if message is not None:
            resource_data["@odata.etag"] = f'W/"{message.change_key}"'
        resource_data["id"] = change.message_id
        return {"value": [{
            "id": new_guid(), "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": iso7(sub.expiration), "clientState": sub.client_state,
            "changeType": kind, "resource": path, "tenantId": sub.tenant_id, "resourceData": resource_data,
        }]}

    def send_lifecycle(self, sub: Subscription, event: str) -> bool:
        """Queue a lifecycle notification; False when the subscription has no lifecycle URL."""
        if not sub.lifecycle_url:
            return False
        payload = {"value": [{"subscriptionId": sub.id, "subscriptionExpirationDateTime": iso7(sub.expiration),
                              "tenantId": sub.tenant_id, "clientState": sub.client_state,
                              "lifecycleEvent": event}]}
        self._schedule(Job(sub.lifecycle_url, payload, sub.id, event, self.clock.now()), 0.0)
        return True

    # --- scheduling --------------------------------------------------------------------------------
    def _endpoint_state(self, url: str) -> str:
        key = _endpoint(url)
        with self._cond:
            stats = self._stats.get(key)
            if stats is None or self.clock.now() - stats.window_start > self.slow_window:
                return "ok"
            if stats.total < self.slow_min_samples:
                return "ok"
            ratio = stats.slow / stats.total
        return "drop" if ratio >= 0.15 else "delay" if ratio >= 0.10 else "ok"

    def _submit_new(self, job: Job) -> None:
        drop, duplicate, delay = self.faults.notification_fate()
        state = self._endpoint_state(job.url)
        if drop or state == "drop":
            self._record(job, None, "dropped", 0.0)
            return
        if state == "delay":
            delay = max(delay, self.throttle_delay)
        copies = [job, Job(job.url, job.payload, job.subscription_id, None, job.first_at)] if duplicate else [job]
        with self._cond:
            target = self.faults.take_reorder()
            if target:
                self._hold_target, self._hold_deadline = target, time.monotonic() + 2.0
            if self._hold_target:
                self._held.extend(copies)
                if len(self._held) >= self._hold_target:
                    self._release_held()
                return
        for copy in copies:
            self._schedule(copy, delay, wait=self.batch_window)

    def _release_held(self) -> None:
        held, self._held, self._hold_target = self._held, [], 0
        start = time.monotonic()
        for position, job in enumerate(reversed(held)):
            # Staggered, since deliveries run in parallel and equal due times would race.
            heapq.heappush(self._heap, (start + 0.1 * position, next(self._counter), job))
        self._cond.notify_all()

    def _schedule(self, job: Job, emulated_delay: float, wait: float = 0.0) -> None:
        due = time.monotonic() + self.clock.real_seconds(emulated_delay) + wait
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._counter), job))
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    if self._held and now >= self._hold_deadline:
                        self._release_held()  # don't hold a partial reorder batch forever
                    if self._heap and self._heap[0][0] <= now:
                        break
                    wait = self._heap[0][0] - now if self._heap else 0.2
                    self._cond.wait(min(max(wait, 0.001), 0.2))
                if self._stopping:
                    return
                _, _, job = heapq.heappop(self._heap)
                job = self._batch(job, now + self.batch_window)
                self._in_flight += 1
            try:
                self._pool.submit(self._deliver, job)
            except RuntimeError:  # pool shut down
                return

    def _batch(self, job: Job, horizon: float) -> Job:
        """``job`` with the other new change notifications to its URL due by ``horizon``, in one POST (their
        order kept). Called with the lock held."""
        if job.lifecycle is not None or job.attempt:
            return job
        mates = sorted(entry for entry in self._heap if entry[0] <= horizon and entry[2].url == job.url
                       and entry[2].lifecycle is None and not entry[2].attempt)[:self.batch_max - 1]
        if not mates:
            return job
        taken = {id(entry[2]) for entry in mates}
        self._heap = [entry for entry in self._heap if id(entry[2]) not in taken]
        heapq.heapify(self._heap)
        items = [item for one in (job, *(entry[2] for entry in mates)) for item in one.payload["value"]]
        return Job(job.url, {"value": items}, job.subscription_id, None, job.first_at)

    # --- delivering --------------------------------------------------------------------------------
    def _deliver(self, job: Job) -> None:
        started = time.monotonic()
        status: int | None = None
        outcome = "error"
        try:
            reply = self._http.post(job.url, json=job.payload, timeout=self.timeout,
                                    headers={"Content-Type": "application/json; charset=utf-8"})
            status = reply.status_code
            outcome = "delivered" if 200 <= status < 300 else "retry"
        except httpx.TimeoutException:
            outcome = "timeout"
        except httpx.HTTPError as exc:
            logger.debug("notification to %s failed: %s", job.url, exc)
        duration = time.monotonic() - started
        self._note_speed(job.url, duration, slow=outcome == "timeout" or duration > self.slow_threshold)
        if outcome != "delivered":
            outcome = self._retry(job)
        self._record(job, status, outcome, duration)
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def _retry(self, job: Job) -> str:
        delay = self.retry_delays[min(job.attempt, len(self.retry_delays) - 1)]
        if self.clock.now() + delay - job.first_at > self.max_retry_age:
            sub = self.store.get(job.subscription_id)
            if sub is not None and job.lifecycle is None:
                self.send_lifecycle(sub, "missed")
            return "dropped"
        job.attempt += 1
        self._schedule(job, delay)
        return "retry"

    def _note_speed(self, url: str, duration: float, slow: bool) -> None:
        key, now = _endpoint(url), self.clock.now()
        with self._cond:
            stats = self._stats.get(key)
            if stats is None or now - stats.window_start > self.slow_window:
                stats = self._stats[key] = _EndpointStats(now)
            stats.total += 1
            stats.slow += int(slow)

    def _record(self, job: Job, status: int | None, outcome: str, duration: float) -> None:
        with self._cond:
            self._attempts.append(Attempt(self.clock.now(), job.url, job.subscription_id, job.lifecycle,
                                          status, outcome, duration, job.payload))


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
