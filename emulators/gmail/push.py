"""Gmail watch + a Cloud Pub/Sub push emulator.

`GmailWatches` keeps each user's `users.watch` (topic, labelIds, include/exclude filter,
expiration), hears every history record from the store and publishes ``{"emailAddress",
"historyId"}`` to the topic — at most one notification per second per user; changes inside that
second notify nobody: "Any user notifications above that rate will be dropped"
(https://developers.google.com/workspace/gmail/api/guides/push#notification_limits). A client learns
of them only from the next notification or by polling history.

`PubSub` delivers each published message to every push subscription of the topic as Pub/Sub does:
``POST endpoint`` with body ``{"message": {"data", "messageId", "message_id", "publishTime",
"publish_time", "attributes"}, "subscription"}`` and ``Authorization: Bearer <OIDC JWT>`` signed
RS256 by the emulator's key (iss accounts.google.com, aud = the subscription's audience, default
the endpoint URL, email = the push service account, email_verified true). A 2xx acknowledges;
anything else (or no answer within the ack deadline) is redelivered with exponential backoff
between the subscription's minimum and maximum backoff until retention (7 days) runs out.
Fault knobs drop, duplicate, delay and reorder messages.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from emulators.clock import Clock

from .faults import Faults
from .keys import SigningKey
from .state import HistoryRecord, Mailbox, account_id
from .wire import ApiError

logger = logging.getLogger(__name__)
GMAIL_PUBLISHER = "gmail-api-push@system.gserviceaccount.com"
TOPIC_NAME = re.compile(r"^projects/[^/]+/topics/[^/]+$")
WATCH_DAYS = 7
RETENTION = 7 * 86400


@dataclass
class Topic:
    name: str
    gmail_can_publish: bool = True


@dataclass
class PushSubscription:
    name: str
    topic: str
    endpoint: str
    audience: str
    service_account_email: str
    min_backoff: float = 10.0  # emulated seconds, as Pub/Sub's retry policy
    max_backoff: float = 600.0
    ack_deadline: float = 10.0


@dataclass(frozen=True)
class PushMessage:
    message_id: str
    data: bytes
    publish_time: str
    published_at: float
    user: str | None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PushAttempt:
    subscription: str
    message_id: str
    attempt: int
    status: int | None  # None: connection failed or timed out
    at: float
    data: dict[str, Any]


@dataclass
class Watch:
    user: str
    topic: str
    label_ids: tuple[str, ...]
    behavior: str  # include | exclude
    expiration_ms: int


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Scheduler:
    """One timer thread running callables at real monotonic times."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._running = 0  # a job popped but not finished still counts as pending (see pending())
        self._thread = threading.Thread(target=self._run, name="gmail-emulator-push", daemon=True)
        self._thread.start()

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._seq), fn))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, fn = heapq.heappop(self._heap)
                self._running += 1
            try:
                fn()
            except Exception:  # one failing job must not stop every later timer
                logger.exception("gmail emulator: scheduled job failed")
            finally:
                with self._cond:
                    self._running -= 1

    def pending(self) -> int:
        # Counting the running job closes a gap in which wait_push_idle() saw an idle emulator while
        # a notification was being published (popped from the heap, not yet dispatched).
        with self._cond:
            return len(self._heap) + self._running

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)


class PubSub:
    def __init__(self, clock: Clock, keys: SigningKey, faults: Faults) -> None:
        self._clock = clock
        self._keys = keys
        self._faults = faults
        self._lock = threading.Lock()
        self._ids = itertools.count(int(time.time()) * 1000)
        self.topics: dict[str, Topic] = {}
        self.subscriptions: dict[str, PushSubscription] = {}
        self.attempts: list[PushAttempt] = []
        self._reorder_buffer: list[tuple[PushSubscription, PushMessage]] = []
        self._scheduler = Scheduler()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gmail-emulator-deliver")
        self._http = httpx.Client(trust_env=False)
        self.in_flight = 0

    def close(self) -> None:
        self._scheduler.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    @property
    def scheduler(self) -> Scheduler:
        return self._scheduler

    # -- configuration -------------------------------------------------------------------------
    def create_topic(self, name: str, gmail_can_publish: bool = True) -> Topic:
        with self._lock:
            topic = self.topics.setdefault(name, Topic(name))
            topic.gmail_can_publish = gmail_can_publish
            return topic

    def create_subscription(self, sub: PushSubscription) -> None:
        with self._lock:
            self.topics.setdefault(sub.topic, Topic(sub.topic))
            self.subscriptions[sub.name] = sub

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, topic: str, data: bytes, user: str | None = None) -> str | None:
        """Publish to every subscription of ``topic``; None when a drop fault ate the message."""
        now = self._clock.now()
        message = PushMessage(str(next(self._ids)), data, _rfc3339(now), now, user)
        if self._faults.push_fault("drop", user):
            return None
        with self._lock:
            targets = [s for s in self.subscriptions.values() if s.topic == topic]
        copies = 2 if self._faults.push_fault("duplicate", user) else 1
        delay_rule = self._faults.push_fault("delay", user)
        delay = self._clock.real_seconds(delay_rule.seconds) if delay_rule else 0.0
        for sub in targets:
            for _ in range(copies):
                if self._faults.reorder_window > 0:
                    self._hold_for_reorder(sub, message)
                else:
                    self._scheduler.call_later(delay, lambda s=sub, m=message: self._dispatch(s, m, 1))
        return message.message_id

    def _hold_for_reorder(self, sub: PushSubscription, message: PushMessage) -> None:
        with self._lock:
            self._reorder_buffer.append((sub, message))
            full = len(self._reorder_buffer) >= self._faults.reorder_window
            first = len(self._reorder_buffer) == 1
        if full:
            self._release_reordered()
        elif first:
            self._scheduler.call_later(1.0, self._release_reordered)  # don't hold a short burst forever

    def _release_reordered(self) -> None:
        with self._lock:
            held, self._reorder_buffer = self._reorder_buffer, []
        for i, (sub, message) in enumerate(reversed(held)):
            self._scheduler.call_later(0.02 * i, lambda s=sub, m=message: self._dispatch(s, m, 1))

    def _dispatch(self, sub: PushSubscription, message: PushMessage, attempt: int) -> None:
        with self._lock:
            self.in_flight += 1
        try:
            self._pool.submit(self._deliver, sub, message, attempt)
        except RuntimeError:  # the emulator is stopping
            with self._lock:
                self.in_flight -= 1

    def _oidc_token(self, sub: PushSubscription) -> str:
        now = int(self._clock.now())
        account = account_id(sub.service_account_email)
        return self._keys.sign({
            "aud": sub.audience,
            "azp": account,
            "email": sub.service_account_email,
            "email_verified": True,
            "exp": now + 3600,
            "iat": now,
            "iss": "https://accounts.google.com",
            "sub": account,
        })

    def _deliver(self, sub: PushSubscription, message: PushMessage, attempt: int) -> None:
        body = {
            "message": {
                "attributes": dict(message.attributes),
                "data": base64.b64encode(message.data).decode(),
                "messageId": message.message_id,
                "message_id": message.message_id,
                "publishTime": message.publish_time,
                "publish_time": message.publish_time,
            },
            "subscription": sub.name,
        }
        headers = {"Authorization": f"Bearer {self._oidc_token(sub)}", "Content-Type": "application/json",
                   "User-Agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"}
        status: int | None
        try:
            response = self._http.post(sub.endpoint, content=json.dumps(body), headers=headers,
                                       timeout=self._clock.real_seconds(sub.ack_deadline))
            status = response.status_code
        except httpx.HTTPError:
            status = None
        decoded = json.loads(message.data)
        with self._lock:
            self.attempts.append(PushAttempt(sub.name, message.message_id, attempt, status, self._clock.now(), decoded))
            self.in_flight -= 1
        if status is not None and 200 <= status < 300:
            return
        if self._clock.now() - message.published_at > RETENTION:
            return  # Pub/Sub drops unacknowledged messages after the retention period
        backoff = min(sub.max_backoff, sub.min_backoff * 2 ** (attempt - 1))
        self._scheduler.call_later(self._clock.real_seconds(backoff), lambda: self._dispatch(sub, message, attempt + 1))

    def idle(self) -> bool:
        with self._lock:
            return self.in_flight == 0 and not self._reorder_buffer and self._scheduler.pending() == 0


class GmailWatches:
    """users.watch / users.stop state and the rate-limited publisher."""

    def __init__(self, clock: Clock, pubsub: PubSub, min_interval: float = 1.0) -> None:
        self._clock = clock
        self._pubsub = pubsub
        self._lock = threading.Lock()
        self.watches: dict[str, Watch] = {}
        self.min_interval = min_interval  # emulated seconds between two notifications per user
        self.numeric_history_id = False  # the push guide shows a string; some real pushes carry a number
        self.dropped: dict[str, int] = {}  # notifications over the rate, per user
        self._last_sent: dict[str, float] = {}

    def watch(self, mailbox: Mailbox, body: dict[str, Any], project: str) -> dict[str, str]:
        """``project``: the Cloud project of the OAuth client (or service account) the call's token belongs to."""
        topic = str(body.get("topicName") or "")
        if not TOPIC_NAME.match(topic):
            raise ApiError(400, "Invalid topicName does not match projects/SOME_PROJECT/topics/SOME_TOPIC",
                           "invalidArgument")
        if topic.split("/")[1] != project:
            # users.watch: 'the "my-project-identifier" portion must exactly match your Google developer project
            # id (the one executing this watch request)' —
            # https://developers.google.com/workspace/gmail/api/reference/rest/v1/users/watch; a valid topic with
            # Gmail's publish grant in another project is still refused (the most common set-up mistake:
            # https://mit-odoo.de/docs/maildesk/18/realtime/gmail-realtime-troubleshooting).
            raise ApiError(400, f"Invalid topicName does not match projects/{project}/topics/*", "invalidArgument")
        known = self._pubsub.topics.get(topic)
        if known is None:
            raise ApiError(404, f"Resource not found (resource={topic.rsplit('/', 1)[-1]}).", "notFound")
        if not known.gmail_can_publish:
            raise ApiError(403, f"Error sending test message to Cloud PubSub {topic} : User not authorized to "
                           "perform this action.", "forbidden")
        behavior = str(body.get("labelFilterBehavior") or body.get("labelFilterAction") or "include").lower()
        if behavior not in ("include", "exclude"):
            raise ApiError(400, f"Invalid value at 'labelFilterBehavior' ({behavior})", "invalidArgument")
        for label in body.get("labelIds") or []:
            if not mailbox.label_exists(label):
                raise ApiError(400, f"Invalid label: {label}", "invalidArgument")
        expiration = self._clock.now_ms() + WATCH_DAYS * 86400 * 1000
        with self._lock:
            self.watches[mailbox.address] = Watch(
                mailbox.address, topic, tuple(body.get("labelIds") or ()), behavior, expiration
            )
        return {"historyId": str(mailbox.history_id), "expiration": str(expiration)}

    def stop(self, address: str) -> None:
        with self._lock:
            self.watches.pop(address, None)

    def on_history(self, mailbox: Mailbox, record: HistoryRecord) -> None:
        with self._lock:
            watch = self.watches.get(mailbox.address)
            if watch is None or watch.expiration_ms < self._clock.now_ms():
                return
            if not self._matches(watch, record):
                return
            now = self._clock.now()
            if now - self._last_sent.get(mailbox.address, -1e18) < self.min_interval:
                self.dropped[mailbox.address] = self.dropped.get(mailbox.address, 0) + 1
                return
            self._last_sent[mailbox.address] = now
            topic = watch.topic
        value: int | str = record.id if self.numeric_history_id else str(record.id)
        data = json.dumps({"emailAddress": mailbox.address, "historyId": value}).encode()
        self._pubsub.scheduler.call_later(0.0, lambda: self._pubsub.publish(topic, data, user=mailbox.address))

    @staticmethod
    def _matches(watch: Watch, record: HistoryRecord) -> bool:
        if not watch.label_ids:
            return True
        if watch.behavior == "exclude":  # "all message changes except those relating to labelIds specified"
            return not set(watch.label_ids) & (set(record.labels_after) | set(record.changed))
        return bool(set(watch.label_ids) & (set(record.labels_after) | set(record.changed)))

