"""Where a sync step's time goes, for the step's log line: the provider's requests for the page (read, decide,
fetch) and for the thread backlog (earlier messages of opened threads, other mailboxes' requests), routing
(route + apply inside the transaction), the commit, and which messages it filed, with the wall-clock moments
the step started and committed. `bench/latency.py` joins these to each message's notification."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class StepTimings:
    started_at: float = field(default_factory=time.time)  # wall clock: other processes' moments compare with it
    seconds: dict[str, float] = field(default_factory=lambda: {"provider": 0.0, "backlog": 0.0, "route": 0.0,
                                                               "commit": 0.0})
    filed: dict[str, float] = field(default_factory=dict)  # Message-ID of each activity created → its commit's end
    _mark: float = 0.0

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - began

    def committing(self) -> None:
        """The transaction's statements are done: what follows until `committed` is the commit itself."""
        self._mark = time.perf_counter()

    def committed(self, filed: list[str]) -> None:
        self.seconds["commit"] += time.perf_counter() - self._mark
        now = time.time()  # wall clock, like started_at
        self.filed.update(dict.fromkeys(filed, round(now, 4)))

    def as_log(self) -> dict[str, object]:
        return {"started_at": round(self.started_at, 4), "filed": self.filed,
                **{f"{name}_s": round(value, 4) for name, value in self.seconds.items()}}
