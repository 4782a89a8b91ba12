"""The emulators' clock (Graph and Gmail share it): real time, optionally shifted and sped up.

Everything time-dependent in an emulator (token lifetimes, subscription and watch expiry, delta and
history age, throttling and quota windows, notification retry schedules) reads `Clock.now()`.
Tests jump ahead with `advance()` or compress time with `set_scale()`: at scale 600 an emulated
10-minute retry delay passes in one real second. Code that has to *wait* converts an emulated
delay with `real_seconds()`.
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self, scale: float = 1.0, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._anchor_real = time.time()
        self._anchor_emulated = self._anchor_real if start is None else start
        self._scale = scale

    def now(self) -> float:
        with self._lock:
            return self._anchor_emulated + (time.time() - self._anchor_real) * self._scale

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    @property
    def scale(self) -> float:
        return self._scale

    def set_scale(self, scale: float) -> None:
        """Emulated seconds per real second from now on (1 = real time)."""
        if scale <= 0:
            raise ValueError("scale must be positive")
        with self._lock:
            now_real = time.time()  # re-anchor so emulated time does not jump
            self._anchor_emulated += (now_real - self._anchor_real) * self._scale
            self._anchor_real = now_real
            self._scale = scale

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._anchor_emulated += seconds

    def set_time(self, epoch_seconds: float) -> None:
        with self._lock:
            self._anchor_real = time.time()
            self._anchor_emulated = epoch_seconds

    def real_seconds(self, emulated_seconds: float) -> float:
        return max(0.0, emulated_seconds / self._scale)
