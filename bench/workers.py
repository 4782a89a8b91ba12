"""Workers: sync throughput with 1, 2 and 4 `bcc-capture worker` processes on PostgreSQL.

For each count, a fresh database and fresh emulators: every mailbox connected and its cursor
taken, the whole workload delivered, then N worker processes started and, once they are all up,
every mailbox woken at once. Measured: seconds until every message of the answer key is logged
and no mailbox is due, messages logged per second, copies read per second, where the CPU went
(worker processes, the bench process holding both emulators, the rest: PostgreSQL), and each
worker's peak memory.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, func, select

from bench import procs
from bench.common import Run, database, parse_args, postgres_available, table, target
from bench.rig import Rig, utcnow
from bench.workload import Workload, generate
from connector.models import Activity, Mailbox, ThreadBackfill

NAME = "workers"
STALL_SECONDS = 10.0  # every mailbox idle this long with messages still missing: a lost wake-up


def run(workload: Workload, workers: int, backend: str, timeout: float) -> dict[str, Any]:
    with database(backend, "workers") as url:
        rig = Rig(workload, url, sync_overrides={"safety_net_minutes": 600, "lease_seconds": 60})
        with rig.running() as rig:
            procs.fake_subscriptions(rig)
            local = rig.worker()
            rig.wake_all()
            rig.drain(local)  # cursors at "now"
            send_started = time.monotonic()
            for index in range(len(workload.messages)):
                rig.send(index)
            send_seconds = time.monotonic() - send_started
            for _ in range(workers):
                rig.start_worker()
            startup = rig.wait_started(workers)
            expected = workload.expected_logged
            cpu = procs.MachineCpu().start()
            before = {p.pid: procs.process_cpu(p.pid) for p in rig.processes}
            started, wall_started = time.monotonic(), time.time()
            rig.wake_all()
            done_at = None
            idle_since: float | None = None
            while time.monotonic() - started < timeout:
                idle = _idle(rig)
                if rig.logged_count() >= len(expected) and idle:
                    done_at = time.monotonic()
                    break
                idle_since = (idle_since or time.monotonic()) if idle else None
                if idle_since and time.monotonic() - idle_since > STALL_SECONDS:
                    break  # nothing due, nothing leased, messages missing: only the safety net would help
                time.sleep(0.1)
            stalled = done_at is None and idle_since is not None
            pending = _pending_backfills(rig) if stalled else []
            last = _last_logged(rig)
            elapsed = (done_at - started) if done_at else max((last or wall_started) - wall_started, 1e-3)
            used = cpu.stop()
            worker_cpu = sum(procs.process_cpu(p.pid) - before[p.pid] for p in rig.processes)
            rss = [procs.peak_rss_mb(p.pid) for p in rig.processes]
            logged = rig.logged_ids()
            copies = _copies(rig)
    return {"workers": workers, "backend": backend, "mailboxes": len(workload.users),
            "messages": len(workload.messages), "copies": copies, "expected_logged": len(expected),
            "logged": len(logged & expected), "missing": len(expected - logged), "finished": done_at is not None,
            "stalled": stalled, "missing_ids": sorted(expected - logged)[:10], "pending_backfills": pending,
            "seconds": round(elapsed, 2), "logged_per_second": round(len(logged & expected) / elapsed, 1),
            "copies_per_second": round(copies / elapsed, 1), "worker_startup_seconds": round(startup, 1),
            "send_seconds": round(send_seconds, 1), "worker_cpu_seconds": round(worker_cpu, 1),
            "worker_peak_rss_mb": rss, **used}


def _pending_backfills(rig: Rig) -> list[dict[str, str]]:
    """Backfill requests nobody will process before the safety net: the trace of a lost wake-up."""
    with Session(rig.engine) as session:
        rows = session.exec(select(ThreadBackfill, Mailbox).where(ThreadBackfill.mailbox_id == Mailbox.id)).all()
    return [{"mailbox": m.address, "message": b.internet_message_id, "requested_at": b.created_at.isoformat(),
             "mailbox_last_success_at": str(m.last_success_at), "mailbox_next_sync_at": str(m.next_sync_at)}
            for b, m in rows]


def _last_logged(rig: Rig) -> float | None:
    with Session(rig.engine) as session:
        last = session.exec(select(func.max(Activity.logged_at))).one()
    return last.timestamp() if last else None


def _idle(rig: Rig) -> bool:
    with Session(rig.engine) as session:
        due = session.exec(select(func.count()).select_from(Mailbox).where(
            col(Mailbox.next_sync_at) <= utcnow())).one()
        leased = session.exec(select(func.count()).select_from(Mailbox).where(
            col(Mailbox.lease_owner).is_not(None))).one()
    return not due and not leased


def _copies(rig: Rig) -> int:
    total = 0
    for person in rig.workload.users:
        if person.provider == "graph":
            total += len(rig.graph.messages(person.address))
        else:
            total += len(rig.gmail.mailbox(person.address).messages)
    return total


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    run_ = Run(NAME, args)
    backend = "postgresql" if postgres_available() else "sqlite"
    if backend != "postgresql":
        run_.notes.append("PostgreSQL was not reachable: SQLite (writers serialize; figures not comparable).")
    mailboxes, messages = (8, 300) if args.quick else (40, 2500)
    workload = generate(seed=23, mailboxes=mailboxes, messages=messages, logged_share=0.3)
    rows = []
    for count in (1, 2, 4):
        row = run(workload, count, backend, timeout=120 if args.quick else 300)
        print(row)
        rows.append(row)
    table(["workers", "logged", "seconds", "logged/s", "copies/s", "machine busy", "worker CPU s",
           "bench (emulators) CPU s", "peak RSS MB"],
          [[r["workers"], f"{r['logged']}/{r['expected_logged']}", r["seconds"], r["logged_per_second"],
            r["copies_per_second"], f"{r['machine_busy_share']:.0%}", r["worker_cpu_seconds"],
            r["bench_process_cpu_seconds"], max(r["worker_peak_rss_mb"] or [0])] for r in rows],
          f"\nSync throughput on {backend}, {mailboxes} mailboxes, {messages} messages")
    base = rows[0]["logged_per_second"] or 1
    speedups = {r["workers"]: round(r["logged_per_second"] / base, 2) for r in rows}
    print(f"\nspeed-up over one worker: {speedups}")
    targets = [target(f"all expected messages logged with {r['workers']} worker(s) (no wait for the safety net)",
                      f"{r['logged']}/{r['expected_logged']}", "all", r["missing"] == 0 and r["finished"])
               for r in rows]
    for r in rows:
        if r["stalled"]:
            run_.notes.append(f"{r['workers']} workers: every mailbox went idle with {r['missing']} message(s) not "
                              f"logged ({', '.join(r['missing_ids'])}); they wait for the safety-net sync. "
                              f"Backfill requests left unprocessed: {len(r['pending_backfills'])} "
                              f"({', '.join(b['mailbox'] + ' ' + b['message'] for b in r['pending_backfills'])}). "
                              "Throughput is measured to the last activity committed.")
    targets.append(target("worker peak RSS while syncing", max(max(r["worker_peak_rss_mb"] or [0]) for r in rows),
                          "< 300 MB", all(max(r["worker_peak_rss_mb"] or [0]) < 300 for r in rows), "MB"))
    table(["target", "value", "goal", "met"], [[t["target"], t["value"], t["goal"], t["met"]] for t in targets],
          "\nTargets")
    run_.save({"runs": rows, "speedup": speedups}, targets)
    return {"runs": rows}


if __name__ == "__main__":
    main()
