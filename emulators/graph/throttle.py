"""Outlook's per-app, per-mailbox limits: concurrent requests and requests per window.

Graph documents 4 concurrent requests and 10,000 requests per 10 minutes for one app against one
mailbox. Over the concurrency limit the emulator answers ``429 ApplicationThrottled`` ("Application
is over its MailboxConcurrency limit.", the wording Graph uses); over the rate limit it answers
``429 TooManyRequests`` with Retry-After until the window has room again. Each item of a JSON
``$batch`` passes through the gate on its own. Windows use the emulated clock.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict, deque
from dataclasses import dataclass

from emulators.clock import Clock


@dataclass(frozen=True)
class ThrottleDecision:
    code: str
    message: str
    retry_after: int


class ThrottleGate:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.concurrency = 4
        self.requests_per_window = 10_000
        self.window_seconds = 600.0
        self._in_flight: dict[tuple[str, str], int] = defaultdict(int)
        self._recent: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def set_limits(
        self,
        concurrency: int | None = None,
        requests_per_window: int | None = None,
        window_seconds: float | None = None,
    ) -> None:
        with self._lock:
            if concurrency is not None:
                self.concurrency = concurrency
            if requests_per_window is not None:
                self.requests_per_window = requests_per_window
            if window_seconds is not None:
                self.window_seconds = window_seconds

    def enter(self, key: tuple[str, str]) -> ThrottleDecision | None:
        """Admit a request (then call `leave`) or say why not."""
        now = self._clock.now()
        with self._lock:
            recent = self._recent[key]
            while recent and recent[0] <= now - self.window_seconds:
                recent.popleft()
            if self._in_flight[key] >= self.concurrency:
                return ThrottleDecision(
                    "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", 1
                )
            if len(recent) >= self.requests_per_window:
                wait = recent[0] + self.window_seconds - now
                return ThrottleDecision(
                    "TooManyRequests", "Please retry again later.", max(1, math.ceil(wait))
                )
            recent.append(now)
            self._in_flight[key] += 1
            return None

    def leave(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._in_flight[key] = max(0, self._in_flight[key] - 1)
