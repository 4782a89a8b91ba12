"""Notification-to-logged latency at a sustained rate across many mailboxes (Graph and Gmail).

Both emulators, the real web app (webhooks: Graph notifications, Gmail Pub/Sub pushes through
the real parsers and intake) and `bcc-capture worker` *processes* on PostgreSQL. A paced sender
delivers the workload through the post office at a fixed rate; for every message that can be
logged the moment it arrives (it carries the dropbox address or replies in an already logged
thread), latency is Activity.logged_at − the time PostOffice.send was called.

Where the time goes, per message: until the first webhook call for a mailbox it reached
(the provider's notification path: Graph's notifier, Gmail's one-push-per-second-per-user
Pub/Sub), then until the activity row is committed (the worker's idle poll, the claim, the
sync step: delta/history read, metadata, full download, route + apply + commit).
"""

from __future__ import annotations

import bisect
import math
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from bench import procs
from bench.common import Run, database, parse_args, postgres_available, table, target
from bench.rig import Rig
from bench.workload import Workload, generate
from connector.models import Activity, Mailbox
from connector.sync import intake

NAME = "latency"


def loggable_on_arrival(workload: Workload) -> set[str]:
    """Messages of logged conversations sent at or after the first dropbox message (no backfill wait)."""
    opened: set[int] = set()
    found: set[str] = set()
    filed = workload.expected_logged
    for message in workload.messages:
        if message.bcc:
            opened.add(message.conversation)
        if message.conversation in opened and message.message_id in filed:
            found.add(message.message_id)
    return found


class WebhookClock:
    """Records when the web app accepted a notification for each mailbox (wraps intake.accept)."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], list[float]] = defaultdict(list)
        self._lock = threading.Lock()
        self._original = intake.accept

    def install(self) -> None:
        original = self._original

        def accept(engine: Any, provider: str, notes: Any, now: datetime) -> int:
            at = time.time()
            with self._lock:
                for note in notes:
                    self.by_key[(provider, note.subscription_id or note.address.lower())].append(at)
            return original(engine, provider, notes, now)

        intake.accept = accept  # type: ignore[assignment]

    def uninstall(self) -> None:
        intake.accept = self._original  # type: ignore[assignment]

    def first_after(self, key: tuple[str, str], moment: float) -> float | None:
        with self._lock:
            times = sorted(self.by_key.get(key, ()))
        index = bisect.bisect_left(times, moment)
        return times[index] if index < len(times) else None


def run(workload: Workload, rate: float, workers: int, drain_timeout: float) -> dict[str, Any]:
    clock = WebhookClock()
    with database("postgresql" if postgres_available() else "sqlite", "latency") as url:
        rig = Rig(workload, url, webhooks=True, sync_overrides={"safety_net_minutes": 15, "lease_seconds": 60})
        clock.install()
        try:
            with rig.running() as rig:
                return _measure(rig, clock, rate, workers, drain_timeout)
        finally:
            clock.uninstall()


def _prepare(rig: Rig, workers: int) -> tuple[int, dict[str, tuple[str, str | None]], float]:
    """Subscriptions and watches (validated through the web app), cursors at "now", then the worker processes.

    Returns how many subscriptions were created, each mailbox's notification key and the workers' start-up time.
    """
    local = rig.worker()
    created = local.tick_schedules()
    rig.wake_all()
    rig.drain(local)
    with Session(rig.engine) as session:
        keys = {m.address: (m.provider, m.subscription_id if m.provider == "graph" else m.address)
                for m in session.exec(select(Mailbox))}
    for _ in range(workers):
        rig.start_worker()
    startup = rig.wait_started(workers)
    time.sleep(1.0)  # let the workers' first schedule tick pass
    return created, keys, startup


def _measure(rig: Rig, clock: WebhookClock, rate: float, workers: int, drain_timeout: float) -> dict[str, Any]:
    created, keys, startup = _prepare(rig, workers)
    reached: dict[str, set[str]] = defaultdict(set)
    current: list[str] = [""]
    for provider in ("graph", "gmail"):
        rig.office.listen(provider, lambda delivery: reached[current[0]].add(delivery.mailbox))
    sent_at: dict[str, float] = {}
    cpu = procs.MachineCpu().start()
    started = time.monotonic()
    late = 0
    for index, message in enumerate(rig.workload.messages):
        due = started + index / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        elif pause < -0.5:
            late += 1
        current[0] = message.message_id
        sent_at[message.message_id] = time.time()
        rig.send(index)
    send_seconds = time.monotonic() - started
    wanted = loggable_on_arrival(rig.workload)
    deadline = time.monotonic() + drain_timeout
    while time.monotonic() < deadline:
        if wanted <= rig.logged_ids():
            break
        time.sleep(0.2)
    used = cpu.stop()
    with Session(rig.engine) as session:
        logged = {a.internet_message_id: a.logged_at.timestamp() for a in session.exec(select(Activity))}
    latencies, notify, after = [], [], []
    for message_id in wanted:
        if message_id not in logged:
            continue
        latencies.append(logged[message_id] - sent_at[message_id])
        firsts = [t for t in (clock.first_after(keys[a], sent_at[message_id]) for a in reached[message_id]
                              if a in keys) if t is not None]
        if firsts:
            first = min(firsts)
            notify.append(first - sent_at[message_id])
            after.append(logged[message_id] - first)
    not_logged = len(wanted - logged.keys())
    latencies += [math.inf] * not_logged  # never logged within the drain time: counted, as "> drain"
    by_provider = _split(rig, wanted, logged, sent_at)
    return {"mailboxes": len(rig.workload.users), "workers": workers, "rate_target": rate,
            "messages_sent": len(sent_at), "send_seconds": round(send_seconds, 1),
            "rate_achieved": round(len(sent_at) / send_seconds, 1), "sends_late_over_500ms": late,
            "subscriptions_created": created, "worker_startup_seconds": round(startup, 1),
            "measured": len(latencies), "loggable_on_arrival": len(wanted), "missing": not_logged,
            "latency": _percentiles(latencies), "to_first_webhook": _percentiles(notify),
            "webhook_to_logged": _percentiles(after), "by_provider": by_provider, **used}


def _split(rig: Rig, wanted: set[str], logged: dict[str, float], sent_at: dict[str, float]) -> dict[str, Any]:
    """Latency by the sending user's provider (whose Sent Items copy carries the dropbox address)."""
    sender_of = {m.message_id: m.sender.provider for m in rig.workload.messages}
    groups: dict[str, list[float]] = defaultdict(list)
    for message_id in wanted & logged.keys():
        groups[sender_of[message_id]].append(logged[message_id] - sent_at[message_id])
    return {provider: _percentiles(values) for provider, values in groups.items()}


def _percentiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def at(q: float) -> float | None:
        value = ordered[min(len(ordered) - 1, int(q * len(ordered)))]
        return round(value, 3) if math.isfinite(value) else None  # None: not logged within the drain time

    finite = [v for v in values if math.isfinite(v)]
    return {"count": len(values), "p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": at(1.0),
            "mean": round(statistics.fmean(finite), 3) if finite else None, "not_logged": len(values) - len(finite)}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(NAME, __doc__.splitlines()[0], argv, extra=[
        ("--rate", {"type": float, "default": 50.0, "help": "messages per second (default 50)"}),
        ("--also-rate", {"type": float, "default": None,
                         "help": "a second, lower rate to show the unsaturated latency (default 10; 0: none)"}),
        ("--seconds", {"type": float, "default": None, "help": "how long to send (default 40; quick 8)"}),
        ("--workers", {"type": int, "default": 2, "help": "worker processes (default 2, one per core)"})])
    run_ = Run(NAME, args)
    seconds = args.seconds or (8.0 if args.quick else 40.0)
    mailboxes = 20 if args.quick else 100
    also = args.also_rate if args.also_rate is not None else (0 if args.quick else 10.0)
    runs = []
    for rate in [args.rate] + ([also] if also else []):
        workload = generate(seed=31, mailboxes=mailboxes, messages=int(rate * seconds), logged_share=0.3)
        result = run(workload, rate, args.workers, drain_timeout=60 if args.quick else 120)
        runs.append(result)
        print({k: v for k, v in result.items() if k not in ("latency", "to_first_webhook", "webhook_to_logged")})
        rows = [["send → logged", result["latency"]], ["send → first webhook", result["to_first_webhook"]],
                ["first webhook → logged", result["webhook_to_logged"]]]
        rows += [[f"send → logged, sent from {p}", v] for p, v in sorted(result["by_provider"].items())]
        table(["interval (s)", "count", "p50", "p95", "p99", "max"],
              [[name, v.get("count"), v.get("p50"), v.get("p95"), v.get("p99"), v.get("max")] for name, v in rows],
              f"\nLatency at {result['rate_achieved']} msg/s over {mailboxes} mailboxes, "
              f"{args.workers} worker processes")
    targets = []
    for result in runs:
        p99 = result["latency"].get("p99")
        label = f"at {result['rate_target']:.0f} msg/s"
        targets.append(target(f"notification-to-logged p99 {label}", p99, "< 1 s", p99 is not None and p99 < 1.0, "s"))
        targets.append(target(f"sustained send rate {label}", result["rate_achieved"], f"{result['rate_target']:.0f}",
                              result["rate_achieved"] >= 0.95 * result["rate_target"], "msg/s"))
    table(["target", "value", "goal", "met"], [[t["target"], t["value"], t["goal"], t["met"]] for t in targets],
          "\nTargets")
    run_.notes.append(f"{args.workers} `bcc-capture worker` processes on PostgreSQL; emulators, web app and sender in "
                      "the bench process; Gmail pushes at most once per second per user (as Gmail does).")
    run_.save({"runs": runs}, targets)
    return {"runs": runs}


if __name__ == "__main__":
    main()
