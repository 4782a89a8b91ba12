"""Scale: 10,000 connected mailboxes at rest — worker memory, rows, renewals, the safety-net sweep.

The mailbox rows are written directly (connected, incremental, a cursor, a live subscription),
spread over the safety-net interval as a running system leaves them. Then:

* a real `bcc-capture worker` process runs against the database and its resident memory is read
  from /proc (nothing is due, so it only polls: claim_due and the renewal schedule);
* rows per table, and the database size on PostgreSQL;
* subscription/watch renewals per hour implied by the settings and the providers' lifetimes;
* one safety-net sweep: a share of the mailboxes made due, `leases.claim_due` called until none
  is left, with its query time and the rows it touched, and EXPLAIN ANALYZE of its query.
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, func, select

from bench import seed
from bench.common import ROOT, Run, database, parse_args, postgres_available, table, target
from connector.config import load_settings
from connector.crypto import TokenCipher
from connector.db import make_engine, upgrade
from connector.models import Mailbox, Role, User
from connector.sync import leases
from connector.sync.schedule import due_for_renewal
from providers.graph.subscriptions import LIFETIME as GRAPH_LIFETIME

NAME = "scale"
SECRET = "q2Yl8kW0yYc2m0o8kH1Q3O6t7m7wz4yqfQ2d3QxT6Ds="
GMAIL_WATCH_LIFETIME = timedelta(days=7)  # users.watch expiration (Gmail API reference)


def populate(engine: Engine, mailboxes: int, now: datetime) -> None:
    tenant_id, _ = seed.company(engine, 0)
    cipher = TokenCipher(SECRET.encode())
    credentials = cipher.encrypt('{"refresh_token": "idle", "token": "idle"}')
    safety = timedelta(minutes=load_settings().sync.safety_net_minutes)
    with Session(engine) as session:
        role_id = session.exec(select(Role.id).where(Role.tenant_id == tenant_id,
                                                    Role.name == "Standard User")).one()
    with engine.begin() as conn:
        for start in range(0, mailboxes, 5_000):
            stop = min(mailboxes, start + 5_000)
            conn.execute(insert(User), [
                {"tenant_id": tenant_id, "email": seed.user_address(n).replace("user", "u", 1), "name": f"U {n}",
                 "role_id": role_id, "capture_enabled": True, "dropbox_token": secrets.token_hex(8),
                 "timezone": "UTC", "active": True, "created_at": now} for n in range(start, stop)])
    with Session(engine) as session:
        user_ids = list(session.exec(select(User.id).order_by(col(User.id))))
    rows = []
    margin = timedelta(days=1, hours=2)  # beyond the renewal horizon: nothing is due for renewal now
    for n, user_id in enumerate(user_ids[:mailboxes]):
        provider = "graph" if n % 2 == 0 else "gmail"
        lifetime = GRAPH_LIFETIME if provider == "graph" else GMAIL_WATCH_LIFETIME
        spread = (n * 7919 % mailboxes) / mailboxes  # deterministic, evenly spread
        cursor = ('{"sentitems": "http://127.0.0.1:9/v1.0/delta?$deltatoken=x", "inbox": '
                  '"http://127.0.0.1:9/v1.0/delta?$deltatoken=y"}' if provider == "graph"
                  else '{"history_id": "123456"}')
        rows.append({
            "tenant_id": tenant_id, "user_id": user_id, "provider": provider, "address": f"u{n:05d}@acme-law.com",
            "credentials": credentials, "state": "incremental", "cursor": cursor, "sync_from": now - timedelta(days=3),
            "next_sync_at": now + timedelta(minutes=2) + (safety - timedelta(minutes=2)) * spread,
            "last_success_at": now - safety * (1 - spread), "attempts": 0, "backlog": 0, "resyncs": 0,
            "subscription_id": f"sub-{n}", "client_state": "x" * 48,
            "subscription_expires_at": now + margin + (lifetime - margin) * spread,
            "messages_logged": 0, "app_only": False, "provider_user_id": "", "last_error": "", "last_error_kind": "",
            "created_at": now})
    with engine.begin() as conn:
        for start in range(0, len(rows), 5_000):
            conn.execute(insert(Mailbox), rows[start:start + 5_000])
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))


# ----------------------------------------------------------------------------------------- worker memory
def worker_rss(url: str, seconds: float) -> dict[str, Any]:
    """Start `bcc-capture worker` on the database; read VmRSS/VmHWM after it has polled a while."""
    env = {**os.environ, "BCC_CAPTURE_DATABASE__URL": url, "BCC_CAPTURE_SECRET_KEY": SECRET,
           "BCC_CAPTURE_GRAPH__CLIENT_ID": "bench", "BCC_CAPTURE_GRAPH__CLIENT_SECRET": "bench",
           "BCC_CAPTURE_GRAPH__GRAPH_URL": "http://127.0.0.1:9/v1.0",
           "BCC_CAPTURE_GRAPH__AUTHORITY_HOST": "https://127.0.0.1:9",
           "BCC_CAPTURE_GMAIL__CLIENT_ID": "bench", "BCC_CAPTURE_GMAIL__CLIENT_SECRET": "bench",
           "BCC_CAPTURE_GMAIL__API_ENDPOINT": "http://127.0.0.1:9/", "BCC_CAPTURE_GMAIL__TOKEN_URI": "http://127.0.0.1:9/t",
           "BCC_CAPTURE_GMAIL__TOPIC_NAME": "projects/p/topics/t"}
    log = (ROOT / "var" / "bench" / "scale-worker.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "connector.app.cli", "worker"], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
        samples: list[int] = []
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.5)
                status = _status(process.pid)
                if status:
                    samples.append(status["VmRSS"])
            final = _status(process.pid)
            alive = process.poll() is None
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return {"alive_at_end": alive, "rss_mb": round((final or {}).get("VmRSS", 0) / 1024, 1),
            "peak_rss_mb": round((final or {}).get("VmHWM", 0) / 1024, 1),
            "samples": len(samples), "seconds": seconds, "log": str(log.relative_to(ROOT))}


def _status(pid: int) -> dict[str, int] | None:
    try:
        text_ = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = {}
    for line in text_.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])  # kB
    return found


# ----------------------------------------------------------------------------------------- rows
def row_counts(engine: Engine) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    with Session(engine) as session:
        for table_ in SQLModel.metadata.sorted_tables:
            n = session.exec(select(func.count()).select_from(table_)).one()
            if n:
                counts[table_.name] = int(n)
        if engine.dialect.name == "postgresql":
            size = session.exec(text("SELECT pg_database_size(current_database())")).one()[0]  # type: ignore[call-overload]
            mailbox = session.exec(text("SELECT pg_total_relation_size('mailbox')")).one()[0]  # type: ignore[call-overload]
            counts["database_mb"] = round(size / 1024 / 1024, 1)
            counts["mailbox_table_with_indexes_mb"] = round(mailbox / 1024 / 1024, 1)
    return counts


def renewals_per_hour(mailboxes: int) -> dict[str, Any]:
    sync = load_settings().sync
    before = timedelta(minutes=sync.renew_before_minutes)
    graph_every = GRAPH_LIFETIME - before
    gmail_every = GMAIL_WATCH_LIFETIME - before
    graph, gmail = mailboxes // 2 + mailboxes % 2, mailboxes // 2
    return {
        "graph_mailboxes": graph, "gmail_mailboxes": gmail, "renew_before_minutes": sync.renew_before_minutes,
        "graph_subscription_lifetime_hours": round(GRAPH_LIFETIME.total_seconds() / 3600, 1),
        "graph_renewed_every_hours": round(graph_every.total_seconds() / 3600, 1),
        "gmail_watch_lifetime_hours": GMAIL_WATCH_LIFETIME.total_seconds() / 3600,
        "gmail_renewed_every_hours": round(gmail_every.total_seconds() / 3600, 1),
        "graph_renewals_per_hour": round(graph / (graph_every.total_seconds() / 3600), 1),
        "gmail_watches_per_hour": round(gmail / (gmail_every.total_seconds() / 3600), 1),
        "gmail_watches_per_hour_if_daily": round(gmail / 24, 1),
        "gmail_watch_units_per_day_per_mailbox_if_daily": 100,
        "safety_net_syncs_per_hour": round(mailboxes * 60 / sync.safety_net_minutes),
    }


# ----------------------------------------------------------------------------------------- the sweep
def sweep(engine: Engine, now: datetime, due: int, limit: int) -> dict[str, Any]:
    """Make ``due`` mailboxes due, then claim them ``limit`` at a time as workers do."""
    with Session(engine) as session:
        ids = list(session.exec(select(Mailbox.id).order_by(col(Mailbox.next_sync_at)).limit(due)))
    with engine.begin() as conn:
        conn.execute(update(Mailbox).where(col(Mailbox.id).in_(ids)).values(next_sync_at=now - timedelta(seconds=1)))
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE mailbox"))
    updated = [0]
    statements: list[tuple[str, Any]] = []

    def watch(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE MAILBOX"):
            updated[0] += cursor.rowcount if cursor.rowcount and cursor.rowcount > 0 else 0
        elif statement.lstrip().upper().startswith("SELECT MAILBOX.ID"):
            statements.append((statement, params))

    event.listen(engine, "after_cursor_execute", watch)
    times: list[float] = []
    claimed = 0
    try:
        while True:
            started = time.perf_counter()
            got = leases.claim_due(engine, "bench-sweep", now, limit, 120)
            times.append(time.perf_counter() - started)
            claimed += len(got)
            if not got:
                break
    finally:
        event.remove(engine, "after_cursor_execute", watch)
    plan = ""
    if statements and engine.dialect.name == "postgresql":  # the first claim's query, with the leases undone
        with engine.begin() as conn:
            conn.execute(update(Mailbox).where(col(Mailbox.id).in_(ids)).values(lease_owner=None,
                                                                               lease_expires_at=None))
        plan = _explain(engine, *statements[0])
    renewal_ms, renewal_plan = _renewal_query(engine, now)
    return {"mailboxes_due": due, "claim_limit": limit, "claims": len(times), "claimed": claimed,
            "rows_updated": updated[0], "claim_ms_median": round(statistics.median(times) * 1000, 2),
            "claim_ms_max": round(max(times) * 1000, 2), "sweep_ms_total": round(sum(times) * 1000, 1),
            "empty_claim_ms": round(times[-1] * 1000, 2), "explain_claim_due": plan,
            "renewal_query_ms": renewal_ms, "explain_due_for_renewal": renewal_plan}


def _explain(engine: Engine, statement: str, params: Any) -> str:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) " + statement, params)
        lines = "\n".join(r[0] for r in cursor.fetchall())
        raw.rollback()
        return lines
    finally:
        raw.close()


def _renewal_query(engine: Engine, now: datetime) -> tuple[float, str]:
    """The schedule's per-minute query (`due_for_renewal`): its time and, on PostgreSQL, its plan."""
    captured: list[tuple[str, Any]] = []

    def watch(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        captured.append((statement, params))

    settings = load_settings()
    event.listen(engine, "after_cursor_execute", watch)
    try:
        started = time.perf_counter()
        due_for_renewal(engine, now, settings)
        elapsed = round((time.perf_counter() - started) * 1000, 2)
    finally:
        event.remove(engine, "after_cursor_execute", watch)
    selects = [c for c in captured if c[0].lstrip().upper().startswith("SELECT")]
    plan = _explain(engine, *selects[0]) if selects and engine.dialect.name == "postgresql" else ""
    return elapsed, plan


# ----------------------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    run_ = Run(NAME, args)
    mailboxes = 1_000 if args.quick else 10_000
    rss_seconds = 8.0 if args.quick else 20.0
    backends = (["postgresql"] if postgres_available() else []) + ["sqlite"]
    figures: dict[str, Any] = {"mailboxes": mailboxes, "backends": {}}
    targets = []
    for backend in backends:
        with database(backend, "scale") as url:
            engine = make_engine(url)
            try:
                upgrade(engine)
                now = datetime.now(UTC)
                started = time.perf_counter()
                populate(engine, mailboxes, now)
                setup = round(time.perf_counter() - started, 1)
                result: dict[str, Any] = {"setup_seconds": setup, "rows": row_counts(engine)}
                if backend == backends[0]:
                    result["worker"] = worker_rss(url, rss_seconds)
                due = max(1, mailboxes // 15)  # one minute's share of a 15-minute safety net
                result["sweep"] = sweep(engine, now, due, limit=10)
                figures["backends"][backend] = result
            finally:
                engine.dispose()
        print(f"\n{backend}: {result['rows']}")
        sweep_ = result["sweep"]
        table(["mailboxes", "due", "claims", "claimed", "rows updated", "claim ms (median)", "claim ms (max)",
               "sweep ms", "renewal query ms"],
              [[mailboxes, sweep_["mailboxes_due"], sweep_["claims"], sweep_["claimed"], sweep_["rows_updated"],
                sweep_["claim_ms_median"], sweep_["claim_ms_max"], sweep_["sweep_ms_total"],
                sweep_["renewal_query_ms"]]], f"\nSafety-net sweep on {backend}")
        if sweep_["explain_claim_due"]:
            print("\nEXPLAIN claim_due:\n" + sweep_["explain_claim_due"])
            print("\nEXPLAIN due_for_renewal:\n" + sweep_["explain_due_for_renewal"])
        targets.append(target(f"claim_due touches only due mailboxes, {backend}",
                              f"{sweep_['rows_updated']} updated for {sweep_['mailboxes_due']} due",
                              "rows updated = due", sweep_["rows_updated"] == sweep_["mailboxes_due"]))
        if sweep_["explain_claim_due"]:
            indexed = "ix_mailbox_due" in sweep_["explain_claim_due"]
            targets.append(target("claim_due uses the index on next_sync_at (EXPLAIN, PostgreSQL)",
                                  "yes" if indexed else "no", "Index Scan using ix_mailbox_due", indexed))
    figures["renewals"] = renewals_per_hour(mailboxes)
    worker = figures["backends"][backends[0]]["worker"]
    table(["worker", "RSS MB", "peak RSS MB", "polled s", "alive"],
          [[f"bcc-capture worker ({backends[0]}, {mailboxes:,} idle mailboxes)", worker["rss_mb"],
            worker["peak_rss_mb"], worker["seconds"], worker["alive_at_end"]]], "\nWorker memory")
    table(["renewals", "value"], [[k, v] for k, v in figures["renewals"].items()], "\nRenewals implied by settings")
    targets.insert(0, target("worker RSS (idle, 10k mailboxes)", worker["peak_rss_mb"], "< 300 MB",
                             worker["peak_rss_mb"] < 300 and worker["alive_at_end"], "MB"))
    table(["target", "value", "goal", "met"], [[t["target"], t["value"], t["goal"], t["met"]] for t in targets],
          "\nTargets")
    run_.save(figures, targets)
    return figures


if __name__ == "__main__":
    main()
