"""Per message, where notification-to-filed time goes: joins each message's first notification (the web app's
intake, in the bench process) to the worker step that filed it (its "sync step" log line, `connector.sync.timings`).

    queue     notification accepted → the step that filed it started (wake-up, idle poll or NOTIFY, the claim,
              and any step of the same mailbox still running when the notification came)
    provider  the step's provider requests for its page: delta/history read, headers, full download (and deciding
              what to fetch)
    backlog   its provider requests for thread backlogs: earlier messages of threads opened, other mailboxes' asks
    route     route + apply inside the transaction
    commit    the commit itself
    other     the rest of the step before this message's commit: backlog rounds, retries, the lease
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PARTS = ("queue", "provider", "backlog", "route", "commit", "other")


@dataclass(frozen=True)
class Step:
    mailbox_id: int
    started_at: float
    provider: float
    backlog: float
    route: float
    commit: float
    filed: dict[str, float]  # Message-ID → the commit's wall-clock end


@dataclass(frozen=True)
class Traced:
    message_id: str
    provider_name: str  # the filing mailbox's provider
    total: float  # notification → committed
    queue: float
    provider: float
    backlog: float
    route: float
    commit: float
    other: float
    in_flight: bool  # the filing step had started before the notification (its read saw the message anyway)


def steps(log_files: Iterable[Path]) -> dict[str, Step]:
    """The step that filed each message, from the workers' JSON log lines."""
    found: dict[str, Step] = {}
    for path in log_files:
        for line in path.read_text(errors="replace").splitlines():
            if '"sync step"' not in line or '"filed"' not in line:
                continue
            entry = json.loads(line)
            if not entry.get("filed"):
                continue
            step = Step(entry["mailbox_id"], entry["started_at"], entry["provider_s"], entry.get("backlog_s", 0.0),
                        entry["route_s"], entry["commit_s"], entry["filed"])
            for message_id in step.filed:
                found.setdefault(message_id, step)
    return found


def trace(message_id: str, notified: float, step: Step, provider_name: str) -> Traced:
    committed = step.filed[message_id]
    total = committed - notified
    queue = max(0.0, step.started_at - notified)
    spent = step.provider + step.backlog + step.route + step.commit
    other = max(0.0, committed - max(step.started_at, notified) - spent)
    return Traced(message_id, provider_name, total, queue, step.provider, step.backlog, step.route, step.commit,
                  other, in_flight=step.started_at < notified)


def percentiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def at(q: float) -> float | None:
        value = ordered[min(len(ordered) - 1, int(q * len(ordered)))]
        return round(value, 3) if math.isfinite(value) else None  # None: not filed within the drain time

    finite = [v for v in values if math.isfinite(v)]
    return {"count": len(values), "p50": at(0.50), "p90": at(0.90), "p95": at(0.95), "p99": at(0.99),
            "max": at(1.0), "mean": round(statistics.fmean(finite), 3) if finite else None,
            "not_filed": len(values) - len(finite)}


def breakdown(traced: list[Traced]) -> dict[str, Any]:
    """Mean seconds of each part for every message, the slowest 10 % and the slowest 1 %, and the slowest five."""
    ordered = sorted(traced, key=lambda t: t.total)
    groups = {"all": ordered, "slowest 10 %": ordered[int(0.9 * len(ordered)):],
              "slowest 1 %": ordered[int(0.99 * len(ordered)):]}
    means = {name: {part: round(statistics.fmean(getattr(t, part) for t in group), 3) for part in ("total", *PARTS)}
             | {"count": len(group), "in_flight": sum(t.in_flight for t in group)}
             for name, group in groups.items() if group}
    return {"means": means, "slowest": [asdict(t) for t in ordered[-5:]][::-1]}
