"""Console speed: each console page rendered server-side with a company of 100,000 logged e-mails.

Seeds (in bulk) 25,000 threads of 4 messages: a big matter holds a fifth of them, 49 others share the rest,
and Carol takes part in one in ten, filed under her or not. Then each page is asked for through the real
app (ASGI, templates, a signed-in session cookie) and its p50/p95 printed. Goal: under 300 ms each.

    .venv/bin/python -m bench.console [--quick] [--backend sqlite|postgresql] [--activities N]
"""

from __future__ import annotations

import base64
import json
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from itsdangerous import TimestampSigner
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from bench.common import Run, database, parse_args, table, target
from connector.config import load_settings
from connector.db import make_engine, transaction, upgrade
from connector.models import Activity, ActivityLink, ActivitySource, Participant, Thread, User
from connector.services import records, tenants, users
from connector.web.security import SESSION_COOKIE, session_secret

GOAL_MS = 300.0
PER_THREAD = 4
CAROL = "carol@clientco.com"


def seed(engine: Engine, activities: int) -> dict[str, int]:
    """The company through the services; its mail in bulk (set-up, not what is measured)."""
    with transaction(engine) as session:
        tenant = tenants.create_tenant(session, "Acme Law", "acme", domain="acme-law.com")
        admin = users.create_user(session, tenant, "ada@acme-law.com", "Ada Admin", role="Administrator")
        matters = [records.create_record(session, tenant, "matter", number=str(10000 + n), title=f"Matter {n}")
                   for n in range(50)]
        carol = records.create_record(session, tenant, "contact", email=CAROL, name="Carol Client")
        ids = {"tenant": tenant.id or 0, "admin": admin.id or 0, "matter": matters[0].id or 0, "carol": carol.id or 0}
        matter_ids = [m.id or 0 for m in matters]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        for first in range(0, activities // PER_THREAD, 2000):
            threads = range(first, min(first + 2000, activities // PER_THREAD))
            conn.execute(insert(Thread), [{"tenant_id": ids["tenant"], "subject": f"Case file {t}"} for t in threads])
            thread_ids = list(conn.execute(select(Thread.id).order_by(Thread.id.desc()).limit(len(threads))).scalars())
            rows = _messages(ids, matter_ids, sorted(thread_ids), first, start)
            activity_ids = _insert_activities(conn, rows["activities"])
            for kind in ("links", "participants", "sources"):
                conn.execute(insert({"links": ActivityLink, "participants": Participant,
                                     "sources": ActivitySource}[kind]),
                             [{**{k: v for k, v in row.items() if k != "n"}, "activity_id": activity_ids[row["n"]]}
                              for row in rows[kind]])
    return ids


def _messages(ids: dict[str, int], matter_ids: list[int], thread_ids: list[int], first: int,
              start: datetime) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {"activities": [], "links": [], "participants": [], "sources": []}
    for offset, thread_id in enumerate(thread_ids):
        t = first + offset
        matter = ids["matter"] if t % 5 == 0 else matter_ids[1 + t % 49]
        for m in range(PER_THREAD):
            n = len(rows["activities"])
            rows["activities"].append({
                "tenant_id": ids["tenant"], "internet_message_id": f"<{t}.{m}@bench.example>", "thread_id": thread_id,
                "type": "email", "status": "completed", "performed_by": "Email Capture",
                "direction": "sent" if m % 2 == 0 else "received", "subject": ("Re: " * m) + f"Case file {t}",
                "text": f"Message {m} of case file {t}. The retainer and the schedule are discussed.\n" * 8,
                "sent_at": start + timedelta(minutes=t * 7 + m), "from_email": f"client{t % 997}@clients.example",
                "from_name": f"Client {t % 997}", "owner_user_id": ids["admin"], "notes": [],
                "logged_at": start})
            rows["links"].append({"n": n, "record_id": matter, "reason": "address"})
            person = CAROL if t % 10 == 0 else f"client{t % 997}@clients.example"
            rows["participants"] += [
                {"n": n, "email": "ada@acme-law.com", "role": "from", "kind": "owner", "user_id": ids["admin"],
                 "record_id": None},
                {"n": n, "email": person, "role": "to", "kind": "contact" if person == CAROL else "external",
                 "user_id": None, "record_id": ids["carol"] if person == CAROL else None}]
            rows["sources"].append({"n": n, "source": "graph", "mailbox": "ada@acme-law.com"})
            if t % 20 == 0:  # half of Carol's mail is filed under her too
                rows["links"].append({"n": n, "record_id": ids["carol"], "reason": "contact"})
    return rows


def _insert_activities(conn: Any, rows: list[dict[str, Any]]) -> list[int]:
    conn.execute(insert(Activity), rows)
    found = dict(conn.execute(select(Activity.internet_message_id, Activity.id).where(
        Activity.internet_message_id.in_([r["internet_message_id"] for r in rows]))).all())
    return [found[r["internet_message_id"]] for r in rows]


def session_cookie(settings: Any, user: User) -> str:
    """The cookie a sign-in leaves (Starlette's signed session), made directly: this measures pages, not OIDC."""
    data = base64.b64encode(json.dumps({"uid": user.id, "epoch": user.session_epoch, "csrf": "bench"}).encode())
    return TimestampSigner(session_secret(settings)).sign(data).decode()


def measure(engine: Engine, ids: dict[str, int], repeats: int) -> list[tuple[str, float, float]]:
    from fastapi.testclient import TestClient

    from connector.web.app import create_app
    from connector.web.context import AppContext

    settings = load_settings(secret_key=Fernet.generate_key().decode())
    with transaction(engine) as session:
        admin = session.get(User, ids["admin"])
        assert admin is not None
        cookie = session_cookie(settings, admin)
    pages = ["/me", "/records", "/records?q=matter", f"/records/{ids['matter']}", f"/records/{ids['matter']}?page=80",
             f"/records/{ids['matter']}?q=case+file+1234", f"/records/{ids['carol']}", "/unassigned", "/audit",
             "/mailboxes", "/admin", "/admin/users", "/admin/tokens"]
    results = []
    with TestClient(create_app(AppContext(engine, settings)), base_url="https://testserver") as client:
        client.cookies.set(SESSION_COOKIE, cookie)
        for page in pages:
            timings = []
            for _ in range(repeats):
                started = time.perf_counter()
                answer = client.get(page)
                timings.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, (page, answer.status_code, answer.text[:300])
            timings.sort()
            results.append((page, statistics.median(timings), timings[max(0, round(len(timings) * 0.95) - 1)]))
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args("console", __doc__.splitlines()[0], argv, extra=[
        ("--backend", {"choices": ["sqlite", "postgresql"], "default": None}),
        ("--activities", {"type": int, "default": None})])
    count = args.activities or (4_000 if args.quick else 100_000)
    run = Run("console", args)
    figures: dict[str, Any] = {"activities": count}
    targets = []
    for backend in [args.backend] if args.backend else ["sqlite", "postgresql"]:
        with database(backend, "console") as url:
            engine = make_engine(url)
            upgrade(engine)
            started = time.perf_counter()
            ids = seed(engine, count)
            print(f"{backend}: seeded {count:,} activities in {time.perf_counter() - started:.0f} s", flush=True)
            rows = measure(engine, ids, 5 if args.quick else 20)
            engine.dispose()
        table(["page", "p50 ms", "p95 ms"], [(p, round(a, 1), round(b, 1)) for p, a, b in rows],
              title=f"console pages, {backend}, {count:,} activities")
        figures[backend] = {p: {"p50_ms": round(a, 1), "p95_ms": round(b, 1)} for p, a, b in rows}
        worst = max(b for _, _, b in rows)
        targets.append(target(f"slowest console page p95 ({backend})", round(worst, 1), f"< {GOAL_MS:.0f} ms",
                              worst < GOAL_MS, "ms"))
    run.save(figures, targets)
    return figures


if __name__ == "__main__":
    main()
