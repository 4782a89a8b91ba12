"""Notification-to-filed latency, per message, at a sustained rate across many mailboxes (Graph and Gmail).

Both emulators, the real web app (webhooks: Graph notifications, Gmail Pub/Sub pushes through the real parsers
and intake) and `bcc-capture worker` *processes* on PostgreSQL. A paced sender delivers the workload through the
post office at a fixed rate. For every message that can be filed the moment it arrives (it carries the dropbox
address or replies in an already logged thread), latency is measured from the first notification the web app
accepted for a mailbox the message reached to the commit of the step that filed it (the workers' "sync step"
log lines, `connector.sync.timings`), and split into queue wait, provider requests, routing and commit
(`bench.latency_tail`). Send → notification (the providers' own notification path: Graph's notifier, Gmail's
one-push-per-second-per-user Pub/Sub) is shown beside it.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from bench import latency_tail, procs
from bench.common import ROOT, Run, database, parse_args, postgres_available, table, target
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
        rig = Rig(workload, url, webhooks=True, sync_overrides={"safety_net_minutes": 15, "lease_seconds": 60},
                  log_dir=ROOT / "var" / "bench" / f"latency-{os.getpid()}")  # this run's worker logs alone
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
        providers = {m.id: m.provider for m in session.exec(select(Mailbox))}
    filed_by = latency_tail.steps(sorted(rig.log_dir.glob("worker-*.log")))
    traced, notify, send_to_filed = [], [], []
    for message_id in wanted:
        firsts = [t for t in (clock.first_after(keys[a], sent_at[message_id]) for a in reached[message_id]
                              if a in keys) if t is not None]
        step = filed_by.get(message_id)
        if not firsts or step is None:
            continue
        notify.append(min(firsts) - sent_at[message_id])
        traced.append(latency_tail.trace(message_id, min(firsts), step, providers.get(step.mailbox_id, "?")))
        send_to_filed.append(step.filed[message_id] - sent_at[message_id])
    not_filed = len(wanted - logged.keys())
    totals = [t.total for t in traced] + [math.inf] * not_filed  # never filed within the drain time: "> drain"
    return {"mailboxes": len(rig.workload.users), "workers": workers, "rate_target": rate,
            "messages_sent": len(sent_at), "send_seconds": round(send_seconds, 1),
            "rate_achieved": round(len(sent_at) / send_seconds, 1), "sends_late_over_500ms": late,
            "subscriptions_created": created, "worker_startup_seconds": round(startup, 1),
            "loggable_on_arrival": len(wanted), "traced": len(traced), "missing": not_filed,
            "latency": latency_tail.percentiles(totals), "send_to_notification": latency_tail.percentiles(notify),
            "send_to_filed": latency_tail.percentiles(send_to_filed),
            "by_provider": {name: latency_tail.percentiles([t.total for t in traced if t.provider_name == name])
                            for name in sorted({t.provider_name for t in traced})},
            "tail": latency_tail.breakdown(traced), **used}


GOALS = {10.0: 1.0, 50.0: 3.0}  # p99 notification → filed, seconds, at each rate (issue 18)


def report(result: dict[str, Any], mailboxes: int, workers: int) -> None:
    rows = [["notification → filed", result["latency"]]]
    rows += [[f"notification → filed, {name} mailbox", v] for name, v in result["by_provider"].items()]
    rows += [["send → notification", result["send_to_notification"]], ["send → filed", result["send_to_filed"]]]
    table(["interval (s)", "count", "p50", "p90", "p99", "max"],
          [[name, v.get("count"), v.get("p50"), v.get("p90"), v.get("p99"), v.get("max")] for name, v in rows],
          f"\nLatency at {result['rate_achieved']} msg/s over {mailboxes} mailboxes, {workers} worker processes, "
          f"machine {100 * result.get('machine_busy_share', 0):.0f}% busy")
    means = result["tail"]["means"]
    table(["messages", "count", "total", *latency_tail.PARTS, "step already running"],
          [[name, m["count"], m["total"], *(m[p] for p in latency_tail.PARTS), m["in_flight"]]
           for name, m in means.items()], "\nWhere the time goes (mean seconds per message)")
    table(["slowest", "mailbox", "total", *latency_tail.PARTS],
          [[t["message_id"][:36], t["provider_name"], round(t["total"], 3),
            *(round(t[p], 3) for p in latency_tail.PARTS)] for t in result["tail"]["slowest"]], "")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(NAME, __doc__.splitlines()[0], argv, extra=[
        ("--rate", {"type": float, "default": 50.0, "help": "messages per second (default 50)"}),
        ("--also-rate", {"type": float, "default": None,
                         "help": "a second, lower rate to show the unsaturated latency (default 10; 0: none)"}),
        ("--seconds", {"type": float, "default": None, "help": "how long to send (default 40; quick 8)"}),
        ("--workers", {"type": int, "default": 2, "help": "worker processes (default 2, one per core)"}),
        ("--json", {"action": "store_true", "help": "print the figures as JSON at the end"})])
    run_ = Run(NAME, args)
    seconds = args.seconds or (8.0 if args.quick else 40.0)
    mailboxes = 20 if args.quick else 100
    also = args.also_rate if args.also_rate is not None else (0 if args.quick else 10.0)
    runs = []
    for rate in [args.rate] + ([also] if also else []):
        workload = generate(seed=31, mailboxes=mailboxes, messages=int(rate * seconds), logged_share=0.3)
        result = run(workload, rate, args.workers, drain_timeout=60 if args.quick else 120)
        runs.append(result)
        report(result, mailboxes, args.workers)
    targets = []
    for result in runs:
        p99, goal = result["latency"].get("p99"), GOALS.get(result["rate_target"], 1.0)
        label = f"at {result['rate_target']:.0f} msg/s"
        targets.append(target(f"notification-to-filed p99 {label}", p99, f"< {goal:g} s",
                              p99 is not None and p99 < goal, "s"))
        targets.append(target(f"sustained send rate {label}", result["rate_achieved"], f"{result['rate_target']:.0f}",
                              result["rate_achieved"] >= 0.95 * result["rate_target"], "msg/s"))
    table(["target", "value", "goal", "met"], [[t["target"], t["value"], t["goal"], t["met"]] for t in targets],
          "\nTargets")
    run_.notes.append(f"{args.workers} `bcc-capture worker` processes on PostgreSQL; emulators, web app and sender in "
                      "the bench process; Gmail pushes at most once per second per user (as Gmail does).")
    run_.save({"runs": runs}, targets)
    if args.json:
        print(json.dumps({"runs": runs, "targets": targets}, indent=2, default=str))
    return {"runs": runs}


if __name__ == "__main__":
    main()
