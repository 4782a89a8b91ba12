"""Console speed: every console page rendered server-side, on the demo's database and on a company of 100,000 e-mails.

Two data sets, each on SQLite and PostgreSQL:

* ``demo``: the company `make demo` builds (its set-up, its sample mail and the SMTP front door; not the live
  Outlook/Gmail part). Goal: under 100 ms a page.
* ``100k``: (in bulk) 25,000 threads of 4 messages: a big matter holds a fifth of them, 49 others share the
  rest, and Carol takes part in one in ten, filed under her or not. Goal: under 300 ms a page.

Every console page the app serves (its GET routes outside the API, webhooks and sign-in) is asked for through
the real app (ASGI, templates, a signed-in administrator's session cookie), with its paths filled in: the big
matter, Carol, an e-mail; the Communications tab also on a later page and searched. p50/p95 per page printed.

    .venv/bin/python -m bench.console [--quick] [--backend sqlite|postgresql] [--dataset demo|100k]
                                      [--activities N] [--repeats N] [--json]
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
from connector.models import Activity, ActivityLink, ActivitySource, Participant, Tenant, Thread, User
from connector.services import records, tenants, users
from connector.web.security import SESSION_COOKIE, session_secret

GOAL_MS = 300.0  # a page with 100,000 e-mails
DEMO_GOAL_MS = 100.0  # a page on the demo database
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


def demo_company(engine: Engine) -> dict[str, int]:
    """The company `make demo` builds (quietly), with Alice made an administrator to open every page."""
    from sqlmodel import col

    from connector.models import Record, RecordKind
    from emulators import demo, demo_dropbox

    demo.console.quiet = True
    settings = load_settings(database={"url": engine.url.render_as_string(hide_password=False)})
    addresses = demo.set_up_company(engine, settings)
    demo.ingest(engine, settings, addresses)
    demo_dropbox.front_door(engine, settings, demo.console, demo.step)
    with transaction(engine) as session:
        alice = users.get_user(session, "alice@acme-law.com")
        tenant = session.get(Tenant, alice.tenant_id)
        assert tenant is not None and alice.id is not None
        users.set_role(session, tenant, alice.id, tenants.get_role(session, tenant, "Administrator").id or 0)
        matter = session.exec(select(Record).where(Record.kind == RecordKind.MATTER.value,
                                                   Record.number == "10802")).scalars().one()
        carol = session.exec(select(Record).where(col(Record.email) == CAROL)).scalars().one()
        return {"tenant": alice.tenant_id, "admin": alice.id or 0, "matter": matter.id or 0, "carol": carol.id or 0}


def session_cookie(settings: Any, user: User) -> str:
    """The cookie a sign-in leaves (Starlette's signed session), made directly: this measures pages, not OIDC."""
    data = base64.b64encode(json.dumps({"uid": user.id, "epoch": user.session_epoch, "csrf": "bench"}).encode())
    return TimestampSigner(session_secret(settings)).sign(data).decode()


NOT_PAGES = ("/api", "/webhooks", "/inbound", "/signin", "/static", "/docs", "/redoc", "/openapi", "/healthz",
             "/readyz", "/livez", "/metrics", "/attachments", "/form-post")
DOWNLOADS = ("/callback", "/vcard", ".zip", ".csv", ".eml")  # not pages


def console_pages(app: Any, ids: dict[str, int]) -> list[tuple[str, str]]:
    """(label, URL) of every console page the app serves, paths filled in; the tab also searched."""
    fill = {"record_id": ("{matter}", ids["matter"]), "activity_id": ("{email}", ids["activity"])}
    pages: list[tuple[str, str]] = []
    for path, route in _get_routes(app.routes):
        if path == "/" or path.startswith(NOT_PAGES) or path.endswith(DOWNLOADS):
            continue
        label, url = path, path
        for name in route.param_convertors:
            if name not in fill:
                break
            label, url = label.replace(f"{{{name}}}", fill[name][0]), url.replace(f"{{{name}}}", str(fill[name][1]))
        else:
            pages.append((label, url))
    matter, carol = f"/records/{ids['matter']}", f"/records/{ids['carol']}"
    return [*pages, ("/records?q=matter", "/records?q=matter"), ("/records/{carol}", carol),
            ("/records/{matter}?q=case file 1234", f"{matter}?q=case+file+1234"),
            ("/records/{matter}?q=retainer", f"{matter}?q=retainer"), ("/records/{carol}?q=carol", f"{carol}?q=carol")]


def _get_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(path, route) of every GET route, into included routers (FastAPI keeps them as they were included)."""
    from fastapi.routing import APIRoute

    found = []
    for route in routes:
        if isinstance(route, APIRoute) and "GET" in route.methods:
            found.append((prefix + route.path, route))
        elif hasattr(route, "original_router"):
            found += _get_routes(route.original_router.routes,
                                 prefix + (getattr(route.include_context, "prefix", "") or ""))
    return found


def later_page(client: Any, url: str, steps: int) -> tuple[str, int]:
    """The URL up to ``steps`` "older threads" links after ``url`` (as a reader paging down gets there), and
    the number of that page."""
    import re

    page = 1
    for _ in range(steps):
        found = re.search(r'rel="next" href="([^"]+)"', client.get(url).text)
        if found is None:
            break
        url, page = found.group(1).replace("&amp;", "&"), page + 1
    return url, page


Row = tuple[str, float, float, float, float]  # page, wall p50, wall p95, CPU p50, CPU p95 (ms)


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(len(values) * 0.95) - 1)]


def measure(engine: Engine, ids: dict[str, int], repeats: int, deep: int) -> list[Row]:
    from fastapi.testclient import TestClient

    from connector.web.app import create_app
    from connector.web.context import AppContext

    settings = load_settings(secret_key=Fernet.generate_key().decode(), limits={"console": 0})
    with transaction(engine) as session:
        admin = session.get(User, ids["admin"])
        assert admin is not None
        cookie = session_cookie(settings, admin)
        ids["activity"] = session.exec(select(Activity.id).where(Activity.tenant_id == ids["tenant"])
                                       .order_by(Activity.id.desc()).limit(1)).scalars().one()
    app = create_app(AppContext(engine, settings))
    results = []
    with TestClient(app, base_url="https://testserver") as client:
        client.cookies.set(SESSION_COOKIE, cookie)
        pages = console_pages(app, ids)
        deep_url, reached = later_page(client, f"/records/{ids['matter']}", deep)
        pages.append((f"/records/{{matter}} (page {reached})", deep_url))
        for label, page in pages:
            # CPU time of this process (the app runs in it; SQLite too) beside the wall time: on a machine shared
            # with other work the wall time says as much about the neighbours as about the page.
            timings, cpu = [], []
            for _ in range(repeats):
                started, cpu_started = time.perf_counter(), time.process_time()
                answer = client.get(page)
                timings.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
                assert answer.status_code == 200, (page, answer.status_code, answer.text[:300])
            results.append((label, statistics.median(timings), _p95(timings), statistics.median(cpu), _p95(cpu)))
    return results


def run_one(backend: str, dataset: str, count: int, repeats: int, quick: bool) -> list[Row]:
    with database(backend, "console") as url:
        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        ids = demo_company(engine) if dataset == "demo" else seed(engine, count)
        if backend == "postgresql":  # what autovacuum does after a bulk load: statistics, the visibility map
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        print(f"{backend}, {dataset}: seeded in {time.perf_counter() - started:.0f} s", flush=True)
        try:
            return measure(engine, ids, repeats, 3 if quick else 20)
        finally:
            engine.dispose()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args("console", __doc__.splitlines()[0], argv, extra=[
        ("--backend", {"choices": ["sqlite", "postgresql"], "default": None}),
        ("--dataset", {"choices": ["demo", "100k"], "default": None}),
        ("--activities", {"type": int, "default": None}),
        ("--repeats", {"type": int, "default": None, "help": "requests per page (default 20; --quick 5)"}),
        ("--json", {"action": "store_true", "help": "print the figures as JSON on stdout"})])
    count = args.activities or (4_000 if args.quick else 100_000)
    run = Run("console", args)
    figures: dict[str, Any] = {"activities": count}
    targets = []
    for dataset in [args.dataset] if args.dataset else ["demo", "100k"]:
        goal = DEMO_GOAL_MS if dataset == "demo" else GOAL_MS
        for backend in [args.backend] if args.backend else ["sqlite", "postgresql"]:
            rows = run_one(backend, dataset, count, args.repeats or (5 if args.quick else 20), args.quick)
            name = "demo" if dataset == "demo" else f"{count:,} activities"
            table(["page", "p50 ms", "p95 ms", "CPU p50", "CPU p95"],
                  [(p, round(a, 1), round(b, 1), round(c, 1), round(d, 1)) for p, a, b, c, d in rows],
                  title=f"console pages, {backend}, {name}")
            figures[f"{backend}/{dataset}"] = {p: {"p50_ms": round(a, 1), "p95_ms": round(b, 1),
                                                   "cpu_p50_ms": round(c, 1), "cpu_p95_ms": round(d, 1)}
                                               for p, a, b, c, d in rows}
            worst = max(rows, key=lambda row: row[2])
            targets.append(target(f"slowest console page p95 ({backend}, {dataset}: {worst[0]})", round(worst[2], 1),
                                  f"< {goal:.0f} ms", worst[2] < goal, "ms"))
    run.save(figures, targets)
    if args.json:
        print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
