"""Fault knobs: thread-safe switches that make the emulator misbehave on purpose.

Every knob fires either for the *next N* occasions, with a *probability*, or both (the next N
first, then the probability). A seeded random generator keeps probabilistic runs reproducible.

    emulator.faults.inject_http_errors(429, next_n=3, retry_after=2)
    emulator.faults.drop_notifications(probability=0.2)
    emulator.faults.duplicate_notifications(next_n=1)
    emulator.faults.delay_notifications(seconds=30, next_n=2)      # emulated seconds
    emulator.faults.reorder_notifications(next_n=3)               # hold 3, deliver reversed
    emulator.faults.delay_responses(seconds=0.5, next_n=4)          # real seconds, for concurrency
    emulator.faults.slow.arm(time_factor=0.1, reset_probability=0.05)  # emulators/slow.py
    emulator.faults.slow.spell(seconds=20, retry_after=None)        # every call 503 for 20 s
    emulator.faults.clear()
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass

from emulators.slow import SlowProfile

from .wire import graph_error


@dataclass
class Knob:
    next_n: int = 0
    probability: float = 0.0

    def fire(self, rng: random.Random) -> bool:
        if self.next_n > 0:
            self.next_n -= 1
            return True
        return self.probability > 0 and rng.random() < self.probability

    @property
    def armed(self) -> bool:
        return self.next_n > 0 or self.probability > 0


@dataclass
class HttpFault:
    status: int  # 429 or 503 (any 4xx/5xx works)
    knob: Knob
    retry_after: int | None
    path_contains: str | None


@dataclass(frozen=True)
class InjectedError:
    status: int
    retry_after: int | None


class FaultPlan:
    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._http: list[HttpFault] = []
        self._drop = Knob()
        self._duplicate = Knob()
        self._delay = Knob()
        self._delay_seconds = 0.0
        self._reorder = 0
        self._response_delay = Knob()
        self._response_delay_seconds = 0.0
        self.slow = SlowProfile()  # slow large pages, resets mid-body, 503 spells (emulators/slow.py)

    def seed(self, seed: int) -> None:
        with self._lock:
            self._rng.seed(seed)

    def clear(self) -> None:
        with self._lock:
            self._http.clear()
            self._drop, self._duplicate, self._delay = Knob(), Knob(), Knob()
            self._reorder = 0
            self._response_delay = Knob()
        self.slow.clear()

    # --- HTTP responses --------------------------------------------------------------------
    def inject_http_errors(
        self,
        status: int = 429,
        *,
        next_n: int = 0,
        probability: float = 0.0,
        retry_after: int | None = 1,
        path_contains: str | None = None,
    ) -> None:
        """Answer matching Graph requests (batch items included) with ``status`` + Retry-After."""
        with self._lock:
            self._http.append(HttpFault(status, Knob(next_n, probability), retry_after, path_contains))

    def take_http_error(self, path: str) -> InjectedError | None:
        with self._lock:
            for fault in self._http:
                if fault.path_contains and fault.path_contains not in path:
                    continue
                if fault.knob.fire(self._rng):
                    return InjectedError(fault.status, fault.retry_after)
            self._http = [f for f in self._http if f.knob.armed]
            return None

    def delay_responses(self, seconds: float, *, next_n: int = 0, probability: float = 0.0) -> None:
        """Hold Graph requests for ``seconds`` of real time (to provoke the concurrency limit)."""
        with self._lock:
            self._response_delay = Knob(next_n, probability)
            self._response_delay_seconds = seconds

    def take_response_delay(self) -> float:
        with self._lock:
            return self._response_delay_seconds if self._response_delay.fire(self._rng) else 0.0

    # --- change notifications ----------------------------------------------------------------
    def drop_notifications(self, *, next_n: int = 0, probability: float = 0.0) -> None:
        with self._lock:
            self._drop = Knob(next_n, probability)

    def duplicate_notifications(self, *, next_n: int = 0, probability: float = 0.0) -> None:
        with self._lock:
            self._duplicate = Knob(next_n, probability)

    def delay_notifications(self, seconds: float, *, next_n: int = 0, probability: float = 0.0) -> None:
        """Delay first delivery attempts by ``seconds`` of emulated time."""
        with self._lock:
            self._delay = Knob(next_n, probability)
            self._delay_seconds = seconds

    def reorder_notifications(self, *, next_n: int = 2) -> None:
        """Hold the next ``next_n`` notifications and release them in reverse order."""
        with self._lock:
            self._reorder = next_n

    def notification_fate(self) -> tuple[bool, bool, float]:
        """(drop, duplicate, delay in emulated seconds) for one new notification."""
        with self._lock:
            if self._drop.fire(self._rng):
                return True, False, 0.0  # a dropped notification consumes no other knob
            drop = False
            duplicate = self._duplicate.fire(self._rng)
            delay = self._delay_seconds if self._delay.fire(self._rng) else 0.0
            return drop, duplicate, delay

    def take_reorder(self) -> int:
        """How many notifications to gather for reordering (0: none); consumes the knob."""
        with self._lock:
            count, self._reorder = self._reorder, 0
            return count


def unavailable(with_retry_after: bool) -> tuple[dict[str, str], bytes]:
    """A 503 of a spell in Graph's error shape (learn.microsoft.com/en-us/graph/errors: serviceNotAvailable)."""
    response = graph_error(503, "serviceNotAvailable", "The service is not available. Try the request again after "
                           "a delay. There may be a Retry-After header.")
    return {}, json.dumps(response.body).encode()
