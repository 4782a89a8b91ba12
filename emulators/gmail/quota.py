"""Per-user quota units and the request log.

https://developers.google.com/workspace/gmail/api/reference/quota (as of May 1, 2026): Cloud projects
created since then get 6,000 quota units per user per minute (15,000 before) and 1,200,000 per project
per minute, plus a daily billing threshold of 80,000,000 units per project. The per-user budget here is a
sliding window of 60 emulated seconds, 6,000 units by default (`GmailEmulator(quota_per_user_per_minute=…)`
or `set_quota()` for an older project). A batch of n calls costs the sum of its n calls; rejected calls
cost nothing. Every call, accepted or not, lands in the request log that tests and benchmarks count from.

Over the per-user limit Google answers 403 with reason ``userRateLimitExceeded`` (domain
``usageLimits``) — https://developers.google.com/workspace/gmail/api/guides/handle-errors#resolve_a_403_error_usage_limit_exceeded.
``error_status=429`` gives the 429 "User-rate limit exceeded. Retry after …" that the same guide
describes for the mail-sending and bandwidth limits.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from emulators.clock import Clock

from .wire import ApiError

PER_USER_PER_MINUTE = 6_000  # projects created on or after May 1, 2026
# Units per method: the per-method table of the same page since May 1, 2026. Google's page
# (developers.google.cn/workspace/gmail/api/reference/quota, the 6,000-units-per-user version) prices
# messages.get, drafts.get, messages.attachments.get and messages.trash at 20 (5 before); threads.get at 40
# (10 before) is the current table as quoted by https://developer.nylas.com/docs/cookbook/email/gmail-api-quotas/
# ("messages.get at 20, threads.get at 40"); the other figures are unchanged. Every one of them can be
# replaced: `GmailEmulator(quota_units={...})` / `set_quota(units=...)`. The product keeps the same table in
# providers/gmail/quota.py (a test compares the two).
UNITS: dict[str, int] = {
    "gmail.users.getProfile": 1,
    "gmail.users.watch": 100,
    "gmail.users.stop": 50,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 20,
    "gmail.users.messages.send": 100,
    "gmail.users.messages.modify": 5,
    "gmail.users.messages.trash": 20,
    "gmail.users.messages.untrash": 5,
    "gmail.users.messages.delete": 10,
    "gmail.users.messages.attachments.get": 20,
    "gmail.users.threads.list": 10,
    "gmail.users.threads.get": 40,
    "gmail.users.history.list": 2,
    "gmail.users.labels.list": 1,
    "gmail.users.labels.get": 1,
    "gmail.users.labels.create": 5,
    "gmail.users.drafts.create": 10,
    "gmail.users.drafts.update": 15,
    "gmail.users.drafts.get": 20,
    "gmail.users.drafts.list": 5,
    "gmail.users.drafts.delete": 10,
    "gmail.users.drafts.send": 100,
    "gmail.users.settings.filters.create": 5,
    "gmail.users.settings.filters.delete": 5,
    "gmail.users.settings.filters.get": 1,
    "gmail.users.settings.filters.list": 1,
}
UNLISTED_UNITS = 5  # a method the table does not name


@dataclass(frozen=True)
class LoggedCall:
    at: float
    method: str  # discovery id, e.g. "gmail.users.messages.get"; "batch" for the envelope
    user: str | None
    status: int
    units: int  # units charged (0 when refused)
    in_batch: bool
    http_method: str
    path: str
    format: str = ""  # messages.get / threads.get: "raw", "full", "metadata", "minimal" (tells a body download)


class QuotaMeter:
    def __init__(self, clock: Clock, per_user_per_minute: int = PER_USER_PER_MINUTE, error_status: int = 403,
                 units: Mapping[str, int] | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self.per_user_per_minute = per_user_per_minute
        self.error_status = error_status  # 403 userRateLimitExceeded (documented), or 429
        self.units: dict[str, int] = {**UNITS, **(units or {})}

    def cost(self, method: str) -> int:
        return self.units.get(method, UNLISTED_UNITS)

    def charge(self, user: str, method: str) -> int:
        units = self.cost(method)
        now = self._clock.now()
        with self._lock:
            window = self._spent.setdefault(user, deque())
            while window and window[0][0] <= now - 60:
                window.popleft()
            used = sum(u for _, u in window)
            if used + units > self.per_user_per_minute:
                retry_at = window[0][0] + 60 if window else now + 1
                raise quota_error(self.error_status, retry_at, retry_at - now)
            window.append((now, units))
        return units

    def used(self, user: str) -> int:
        now = self._clock.now()
        with self._lock:
            return sum(u for t, u in self._spent.get(user, ()) if t > now - 60)

    def reset(self) -> None:
        with self._lock:
            self._spent.clear()


def quota_error(status: int, retry_at: float, retry_after: float | None = None) -> ApiError:
    if status == 403:  # the guide's body; it names no Retry-After for this one
        return ApiError(403, "User Rate Limit Exceeded", "userRateLimitExceeded", domain="usageLimits")
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after is not None else {}
    when = datetime.fromtimestamp(retry_at, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"
    return ApiError(429, f"User-rate limit exceeded.  Retry after {when}", "rateLimitExceeded",
                    domain="usageLimits", headers=headers)


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[LoggedCall] = []

    def add(self, call: LoggedCall) -> None:
        with self._lock:
            self._calls.append(call)

    def calls(self, user: str | None = None) -> list[LoggedCall]:
        with self._lock:
            return [c for c in self._calls if user is None or c.user == user]

    def counts(self, user: str | None = None) -> Counter[str]:
        return Counter(c.method for c in self.calls(user))

    def units(self, user: str | None = None) -> Counter[str]:
        totals: Counter[str] = Counter()
        for call in self.calls(user):
            totals[call.method] += call.units
        return totals

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
