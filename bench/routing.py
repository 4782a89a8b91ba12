"""Routing throughput: envelopes routed and committed per second on one core, SQLite and PostgreSQL.

Envelopes as the sync engine hands them over (complete, read from connected mailboxes) go through
`Capture.process` (route + apply, one transaction each) and through `capture_batch` a page at a time (50,
what `connector.sync.commit.Commit` does with a provider's page; 200, what an archive import does). Two mixes:
the sync mix, where about 30 % of conversations carry a matter's dropbox address (their replies are filed by
thread, the rest is unrelated), and the archive mix, 90 % filed; 85 % of the external people are existing
contacts; some copies appear in a second mailbox. Then the batch path at 1k, 10k and 100k contacts and with
0, 100k and 1M activities logged before (flat means indexed look-ups), EXPLAIN of the hot queries on
PostgreSQL, and a profile of the batch path.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bench import seed
from bench.common import Run, database, load_average, parse_args, postgres_available, table, target
from bench.workload import DROPBOX_DOMAIN, TENANT_SLUG
from connector.config import Settings, load_settings
from connector.db import make_engine, transaction, upgrade
from connector.mail.envelope import Address, Attachment, Direction, Envelope, Source
from connector.models import Activity, Thread, ThreadKey
from connector.routing import directory
from connector.routing.core import Router, Want
from connector.routing.repository import SqlRepository
from connector.services.capture import Capture, capture_batch
from connector.sync.step import Reader

NAME = "routing"
USERS = 50
PAGE = 50
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


# ----------------------------------------------------------------------------------------- the workload
def envelopes(count: int, contacts: int, matters: int, seed_value: int = 5,
              logged_share: float = 0.3) -> list[Envelope]:
    rng = random.Random(seed_value)
    found: list[Envelope] = []
    conversation = 0
    clock = START
    while len(found) < count:
        conversation += 1
        user = seed.user_address(rng.randrange(USERS))
        colleague = seed.user_address(rng.randrange(USERS)) if rng.random() < 0.3 else None
        if colleague == user:
            colleague = None
        client = (seed.contact_address(rng.randrange(contacts)) if rng.random() < 0.85
                  else f"someone{rng.randrange(10**6)}@elsewhere{rng.randrange(100)}.example")
        logged = rng.random() < logged_share
        matter = 10000 + rng.randrange(matters)
        references: list[str] = []
        for index in range(rng.randint(1, 5)):
            clock += timedelta(seconds=rng.randint(1, 60))
            user_sends = index % 2 == 0
            sender, recipient = (user, client) if user_sends else (client, user)
            message_id = f"<c{conversation}.m{index}.{seed_value}@{sender.split('@')[1]}>"
            subject = ("Re: " if index else "") + f"Matter {matter} – item {conversation}"
            common: dict[str, Any] = {
                "internet_message_id": message_id, "subject": subject,
                "in_reply_to": tuple(references[-1:]), "references": tuple(references),
                "from_": Address(sender, sender.split("@")[0].title()), "to": (Address(recipient),),
                "cc": (Address(colleague),) if colleague else (), "sent_at": clock,
                "text": f"Message {index + 1} of conversation {conversation}.\n" * 5,
            }
            bcc = (Address(f"{TENANT_SLUG}+{matter}@{DROPBOX_DOMAIN}"),) if logged and index == 0 else ()
            found.append(Envelope(source=Source.GRAPH, mailbox=user, provider_message_id=f"p{conversation}.{index}",
                                  thread_key=f"graph:{user}:conv{conversation}", bcc=bcc,
                                  direction=Direction.SENT if user_sends else Direction.RECEIVED, **common))
            if colleague and rng.random() < 0.5:  # the colleague's copy, read from their mailbox
                found.append(Envelope(source=Source.GRAPH, mailbox=colleague,
                                      provider_message_id=f"q{conversation}.{index}",
                                      thread_key=f"graph:{colleague}:conv{conversation}",
                                      direction=Direction.RECEIVED, **common))
            references.append(message_id)
    return found[:count]


# ----------------------------------------------------------------------------------------- measuring
def prepared(url: str, contacts: int, matters: int, activities: int = 0) -> tuple[Engine, Settings]:
    engine = make_engine(url)
    upgrade(engine)
    tenant_id, _ = seed.company(engine, USERS)
    seed.records(engine, tenant_id, matters, contacts)
    old_activities(engine, tenant_id, activities)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return engine, load_settings()


def old_activities(engine: Engine, tenant_id: int, count: int, chunk: int = 20_000) -> None:
    """``count`` activities logged before the run (two a thread, each Message-ID a thread key), inserted in bulk:
    what a company that has filed mail for years has in the tables every message is looked up in."""
    now = datetime.now(UTC)
    tables = {model: model.__table__ for model in (Thread, Activity, ThreadKey)}  # type: ignore[attr-defined]
    for start in range(0, count, chunk):
        stop = min(count, start + chunk)
        with engine.begin() as conn:
            threads = conn.execute(insert(tables[Thread]).returning(tables[Thread].c.id, sort_by_parameter_order=True),
                                   [{"tenant_id": tenant_id, "subject": f"Old {n}", "created_at": now}
                                    for n in range(start, stop, 2)]).scalars().all()
            ids = [f"<old{n}@archive.example>" for n in range(start, stop)]
            conn.execute(insert(tables[Activity]), [
                {"tenant_id": tenant_id, "internet_message_id": imid, "thread_id": threads[(n - start) // 2],
                 "type": "Email", "status": "Completed", "performed_by": "Email Capture", "direction": "sent",
                 "subject": f"Old {n}", "text": "An old message.", "html": None, "sent_at": now,
                 "from_email": seed.user_address(n % USERS), "from_name": "", "owner_user_id": None,
                 "customer_id": None, "notes": [], "unlogged_at": None, "logged_at": now}
                for n, imid in zip(range(start, stop), ids, strict=True)])
            conn.execute(insert(tables[ThreadKey]), [
                {"tenant_id": tenant_id, "thread_id": threads[(n - start) // 2], "kind": "message_id", "key": imid}
                for n, imid in zip(range(start, stop), ids, strict=True)])


def one_per_transaction(engine: Engine, settings: Settings, items: Sequence[Envelope],
                        deadline: float = float("inf")) -> Counter_:
    capture = Capture(engine, settings, clock=lambda: START)
    outcomes: Counter_ = {}
    for index, envelope in enumerate(items):
        if index % PAGE == 0 and time.perf_counter() > deadline:
            break
        outcome = capture.process(envelope).outcome.value
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def batched(engine: Engine, settings: Settings, items: Sequence[Envelope], deadline: float = float("inf"),
            page: int = PAGE) -> Counter_:
    """`capture_batch` a page at a time, one transaction each: the sync commit (a provider's page) and the
    archive import (ARCHIVE_BATCH) both file this way."""
    outcomes: Counter_ = {}
    for start in range(0, len(items), page):
        if time.perf_counter() > deadline:
            break
        with transaction(engine) as session:
            for _, applied in capture_batch(session, settings, lambda: START, items[start:start + page]):
                outcomes[applied.outcome.value] = outcomes.get(applied.outcome.value, 0) + 1
    return outcomes


Counter_ = dict[str, int]
ARCHIVE_BATCH = 200
BATCHED = f"batched ({PAGE} per transaction)"
VARIANTS: dict[str, Callable[[Engine, Settings, Sequence[Envelope], float], Counter_]] = {
    "one transaction each": one_per_transaction, BATCHED: batched,
    f"batched ({ARCHIVE_BATCH} per transaction)": lambda e, s, i, d: batched(e, s, i, d, ARCHIVE_BATCH)}


def measure(backend: str, variant: str, items: Sequence[Envelope], contacts: int, matters: int,
            budget: float = 0, activities: int = 0, mix: str = "",
            again: Sequence[Envelope] = ()) -> dict[str, Any]:
    """Route ``items`` (stopping after ``budget`` seconds when it is set) on a fresh database; then, when given,
    ``again`` (other mail) on the same one, keeping the run with more messages per CPU-second: a run of a second
    or two is otherwise as likely to measure a pause of the machine as the database's size."""
    with database(backend, "routing") as url:
        engine, settings = prepared(url, contacts, matters, activities)
        try:
            runs = []
            for workload in (items, again) if again else (items,):
                started_cpu, started = time.process_time(), time.perf_counter()
                outcomes = VARIANTS[variant](engine, settings, workload, started + budget if budget else float("inf"))
                runs.append((time.perf_counter() - started, time.process_time() - started_cpu, outcomes))
        finally:
            engine.dispose()
    seconds, cpu, outcomes = max(runs, key=lambda run: sum(run[2].values()) / run[1])
    done = sum(outcomes.values())
    return {"backend": backend, "variant": variant, "mix": mix, "messages": done, "workload": len(items),
            "contacts": contacts, "activities_before": activities, "matters": matters,
            "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "per_second": round(done / seconds, 1), "per_cpu_second": round(done / cpu, 1),
            "outcomes": outcomes}


# ----------------------------------------------------------------------------------------- EXPLAIN
HOT_QUERIES = {
    "contact by e-mail (people_by_email)":
        "SELECT * FROM record WHERE tenant_id = :t AND kind = 'contact' AND email IN (:e1, :e2) ORDER BY id",
    "thread by keys (thread_for_keys)":
        "SELECT thread_id FROM threadkey WHERE tenant_id = :t AND key IN (:k1, :k2) ORDER BY thread_id LIMIT 1",
    "activity by Message-ID (activity_id)":
        "SELECT id FROM activity WHERE tenant_id = :t AND internet_message_id = :m LIMIT 1",
    "matter by number (record_by_number)":
        "SELECT * FROM record WHERE tenant_id = :t AND kind = 'matter' AND number = :n LIMIT 1",
    "users by address (tenant_users_by_address)":
        "SELECT * FROM \"user\" WHERE tenant_id = :t AND email IN (:e1, :e2)",
    "participant get-or-add (_get_or_add)":
        "SELECT * FROM participant WHERE activity_id = :a AND email = :e1 AND role = 'to' LIMIT 1",
}


def explain(contacts: int, matters: int, items: Sequence[Envelope]) -> dict[str, str]:
    with database("postgresql", "explain") as url:
        engine, settings = prepared(url, contacts, matters)
        try:
            batched(engine, settings, items)
            with engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                params = {"t": 1, "e1": seed.contact_address(7), "e2": seed.contact_address(9000), "k1": "<c1.m0.5>",
                          "k2": "graph:x:conv1", "m": "<c3.m0.5@acme-law.com>", "n": "10007", "a": 1}
                plans = {}
                for label, sql in HOT_QUERIES.items():
                    plans[label] = _plan(conn, sql, params)
                    if "Seq Scan" in plans[label]:  # a tiny table: would the index serve when it grows?
                        conn.execute(text("SET enable_seqscan = off"))
                        plans[f"{label}, with enable_seqscan=off"] = _plan(conn, sql, params)
                        conn.execute(text("SET enable_seqscan = on"))
        finally:
            engine.dispose()
    return plans


def _plan(conn: Any, sql: str, params: dict[str, Any]) -> str:
    rows = conn.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}"), params)
    return "\n".join(r[0] for r in rows)


def uses_index(plans: dict[str, str], label: str) -> bool:
    """Indexed, or a sequential scan of a tiny table that becomes an index scan when scans are off."""
    plan = plans[label]
    if "Seq Scan" not in plan:
        return "Index" in plan
    fallback = plans.get(f"{label}, with enable_seqscan=off", "")
    return "Index" in fallback and "Seq Scan" not in fallback


# ----------------------------------------------------------------------------------------- profile
def profile(items: Sequence[Envelope], contacts: int, matters: int) -> dict[str, Any]:
    """Where the batch path's time goes (pyinstrument if installed, else cProfile), on SQLite."""
    with database("sqlite", "profile") as url:
        engine, settings = prepared(url, contacts, matters)
        try:
            try:
                from pyinstrument import Profiler
            except ImportError:
                return _cprofile(engine, settings, items)
            profiler = Profiler(interval=0.0005)
            profiler.start()
            batched(engine, settings, items)
            profiler.stop()
            return {"tool": "pyinstrument", "text": profiler.output_text(unicode=True, color=False, show_all=False),
                    "top": _self_times(profiler)}
        finally:
            engine.dispose()


def _self_times(profiler: Any, top: int = 15) -> dict[str, list[dict[str, Any]]]:
    """Self time by function (all code), and inclusive time of the product's own functions."""
    root = profiler.last_session.root_frame()
    own: dict[str, float] = {}
    inclusive: dict[str, float] = {}

    def walk(frame: Any, product_above: frozenset[str]) -> None:
        key = f"{frame.function} ({_short(frame.file_path)}:{frame.line_no})"
        own[key] = own.get(key, 0.0) + max(frame.total_self_time, 0.0)
        path = frame.file_path or ""
        if ("/connector/" in path or "/providers/" in path) and key not in product_above:
            inclusive[key] = inclusive.get(key, 0.0) + frame.time
            product_above = product_above | {key}
        for child in frame.children:
            if not child.is_synthetic:
                walk(child, product_above)

    if root is None:
        return {"self": [], "product_inclusive": []}
    walk(root, frozenset())
    whole = root.time or 1.0

    def ranked(totals: dict[str, float]) -> list[dict[str, Any]]:
        return [{"function": k, "seconds": round(v, 3), "share": round(v / whole, 3)}
                for k, v in sorted(totals.items(), key=lambda kv: -kv[1])[:top]]

    return {"self": ranked(own), "product_inclusive": ranked(inclusive)}


def _short(path: str | None) -> str:
    if not path:
        return "?"
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path.rsplit("/", 2)[-1]


def _cprofile(engine: Engine, settings: Settings, items: Sequence[Envelope]) -> dict[str, Any]:
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    batched(engine, settings, items)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    return {"tool": "cProfile", "text": out.getvalue(), "top": {"self": [], "product_inclusive": []}}


# ----------------------------------------------------------------------------------------- a sync step's routing
def _judged_alone(engine: Engine, settings: Settings, page: Sequence[Envelope]) -> list[Want]:
    """Before 557436d: one Router over the page, each message's look-ups asked on demand."""
    with Session(engine) as session:
        router = Router(SqlRepository(session), settings, lambda: START)
        return [router.wants(e) for e in page]


def step_cost(backend: str, items: Sequence[Envelope], contacts: int, matters: int,
              page_at_once: bool) -> dict[str, Any]:
    """CPU of a sync step's routing, page by page: `Reader._wants` on the header-only copies (what to download),
    then the commit's `capture_batch` on the downloads and the copies routed as they are. Provider time left out."""
    heads = [dataclasses.replace(e, complete=False, text="") for e in items]
    with database(backend, "step") as url:
        engine, settings = prepared(url, contacts, matters)
        reader = Reader(engine, settings, lambda: START, None, None, None)  # type: ignore[arg-type]
        read_cpu = commit_cpu = 0.0
        logged = 0
        try:
            for start in range(0, len(items), PAGE):
                began = time.process_time()
                page = heads[start:start + PAGE]
                wants = ([w for _, w in reader._wants(page)] if page_at_once else _judged_alone(engine, settings, page))
                judged = time.process_time()
                wanted = [f for f, w in zip(items[start:start + PAGE], wants, strict=True) if w is Want.FULL]
                wanted += [h for h, w in zip(page, wants, strict=True) if w in (Want.ANOTHER_COPY, Want.REFUSE)]
                with transaction(engine) as session:
                    logged += sum(a.created for _, a in capture_batch(session, settings, lambda: START, wanted))
                read_cpu, commit_cpu = read_cpu + judged - began, commit_cpu + time.process_time() - judged
        finally:
            engine.dispose()
    per = 1000 / max(logged, 1)
    return {"backend": backend, "variant": "page at once" if page_at_once else "one look-up each (before)",
            "messages": len(items), "logged": logged, "read_cpu_s": round(read_cpu, 2),
            "commit_cpu_s": round(commit_cpu, 2), "read_ms_per_logged": round(read_cpu * per, 2),
            "ms_per_logged": round((read_cpu + commit_cpu) * per, 2), "load": load_average()}


def step_table(backends: list[str], messages: int, contacts: int, matters: int) -> list[dict[str, Any]]:
    items = envelopes(messages, contacts, matters)
    rows = [step_cost(b, items, contacts, matters, at_once) for b in backends for at_once in (False, True)]
    table(["backend", "variant", "messages", "logged", "read CPU-s", "commit CPU-s", "read ms/logged",
           "CPU ms/logged", "load"], [[r["backend"], r["variant"], r["messages"], r["logged"], r["read_cpu_s"],
                                       r["commit_cpu_s"], r["read_ms_per_logged"], r["ms_per_logged"], r["load"]]
                                      for r in rows], "\nA sync step's routing, CPU per logged message (sync mix)")
    return rows


# ----------------------------------------------------------------------------------------- main
MIXES = {"sync mix (30 % of conversations filed)": 0.3, "archive mix (90 % filed)": 0.9}


def with_content(items: Sequence[Envelope]) -> list[Envelope]:
    """The envelopes as a full download hands them over: their RFC 5322 bytes (about 6 KB each) and, on every
    tenth, a 100 KB attachment; the content the store seals and keeps for each message logged."""
    filler = (b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 100)[:5_500]
    attachment = Attachment("report.pdf", "application/pdf", 100_000, content=random.Random(7).randbytes(100_000))
    found = []
    for index, envelope in enumerate(items):
        head = f"Message-ID: {envelope.internet_message_id}\r\nSubject: {envelope.subject}\r\n\r\n".encode()
        found.append(dataclasses.replace(envelope, raw=head + filler + envelope.text.encode(),
                                         attachments=(attachment,) if index % 10 == 0 else ()))
    return found


def throughput(backends: list[str], messages: int, contacts: int, matters: int, budget: float,
               content: bool = False) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for mix, share in MIXES.items():
        items = envelopes(messages, contacts, matters, logged_share=share)
        if content:
            items, mix = with_content(items), mix + ", with raw MIME and attachments"
        for backend in backends:
            for variant in VARIANTS:
                row = measure(backend, variant, items, contacts, matters, budget, mix=mix)
                print(row)
                rows.append(row)
    table(["backend", "mix", "variant", "routed", "seconds", "msg/s", "msg/CPU-s", "outcomes"],
          [[r["backend"], r["mix"], r["variant"], r["messages"], r["seconds"], r["per_second"], r["per_cpu_second"],
            r["outcomes"]] for r in rows], f"\nThroughput (one process, one core; {contacts:,} contacts)")
    return rows


def scaling(backends: list[str], messages: int, matters: int, activities: list[int]) -> list[dict[str, Any]]:
    """The batch path with 1k→100k contacts, then with 0→``activities`` activities logged before; each the better
    of two runs of different mail on the same database."""
    rows: list[dict[str, Any]] = []
    for backend in backends:
        for contacts, before in [(1_000, 0), (10_000, 0), (100_000, 0)] + [(10_000, n) for n in activities if n]:
            scaled, other = (envelopes(messages, contacts, matters, seed_value=n) for n in (9, 10))
            started = time.perf_counter()
            row = measure(backend, BATCHED, scaled, contacts, matters, activities=before, again=other)
            row["setup_and_run_seconds"] = round(time.perf_counter() - started, 1)
            print(row)
            rows.append(row)
    table(["backend", "contacts", "activities before", "messages", "msg/s", "msg/CPU-s"],
          [[r["backend"], r["contacts"], r["activities_before"], r["messages"], r["per_second"], r["per_cpu_second"]]
           for r in rows], f"\nScaling ({BATCHED}, the better of two runs of other mail on each database)")
    return rows


def flatness(rows: list[dict[str, Any]], backend: str, vary: str, fixed: dict[str, int]) -> float | None:
    mine = [r["per_cpu_second"] for r in rows if r["backend"] == backend and all(r[k] == v for k, v in fixed.items())]
    return round(min(mine) / max(mine), 2) if len(mine) > 1 else None


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(NAME, __doc__.splitlines()[0], argv, extra=[
        ("--messages", {"type": int, "default": None, "help": "messages in the main run (default 100,000)"}),
        ("--activities", {"type": int, "default": None,
                          "help": "activities logged before the largest scaling run (default 1,000,000)"}),
        ("--budget", {"type": float, "default": None,
                      "help": "seconds per variant and database before stopping (default 60, quick 10; 0: none)"}),
        ("--with-content", {"action": "store_true", "help": "envelopes carry their raw MIME (about 6 KB) and every "
                            "tenth a 100 KB attachment: what connector.storage seals and keeps"}),
        ("--throughput-only", {"action": "store_true", "help": "only the throughput table (no scaling, EXPLAIN or "
                               "profile)"}),
        ("--step", {"action": "store_true", "help": "only a sync step's routing CPU per logged message: the page "
                    "judged at once and one look-up at a time (before), then the commit"}),
        ("--no-directory-cache", {"action": "store_true",
                                  "help": "every transaction asks the database again (the figures before the cache)"})])
    run_ = Run(NAME, args)
    if args.no_directory_cache:  # the process's entries are never found: each transaction reads for itself
        directory.Shared.get = lambda self, name, key, tag: (False, None)  # type: ignore[method-assign]
        run_.notes.append("Run with --no-directory-cache: routing's look-ups are remembered for one transaction only.")
    messages = args.messages or (5_000 if args.quick else 100_000)
    contacts, matters = 10_000, 1_000
    most = args.activities if args.activities is not None else (20_000 if args.quick else 1_000_000)
    budget = args.budget if args.budget is not None else (10 if args.quick else 60)
    backends = ["sqlite"] + (["postgresql"] if postgres_available() else [])
    if "postgresql" not in backends:
        run_.notes.append("PostgreSQL was not reachable on 127.0.0.1:5432: SQLite only.")
    if args.step:
        return {"step": step_table(backends, args.messages or (3_000 if args.quick else 20_000), contacts, matters)}
    rows = throughput(backends, messages, contacts, matters, budget, args.with_content)
    if args.with_content:
        run_.notes.append("Run with --with-content: each envelope carries its raw MIME, every tenth an attachment.")
    if args.throughput_only:
        return {"throughput": rows}
    scaled = scaling(backends, 1_000 if args.quick else 3_000, matters, sorted({most // 10, most}))
    items = envelopes(messages, contacts, matters)
    plans = explain(contacts, matters, items[:2_000]) if "postgresql" in backends else {}
    for label, plan in plans.items():
        print(f"\n-- {label}\n{plan}")
    prof = profile(items[: 1_000 if args.quick else 3_000], contacts, matters)
    table(["function", "seconds", "share"], [[p["function"], p["seconds"], p["share"]] for p in prof["top"]["self"]],
          f"\nProfile ({prof['tool']}, SQLite, {BATCHED}): top self time")
    table(["function", "seconds", "share"],
          [[p["function"], p["seconds"], p["share"]] for p in prof["top"]["product_inclusive"]],
          "\nProfile: product functions, inclusive time")
    targets = []
    for r in rows:
        goal = 1000 if r["backend"] == "sqlite" else 600
        targets.append(target(f"routed+committed per second, {r['backend']}, {r['mix']}, {r['variant']}",
                              r["per_second"], f"≥ {goal:,} msg/s/core", r["per_second"] >= goal, "msg/s"))
    for backend in backends:
        for label, fixed in (("contacts 1k→100k", {"activities_before": 0}), (f"activities 0→{most:,}",
                                                                               {"contacts": 10_000})):
            flat = flatness(scaled, backend, label, fixed)
            targets.append(target(f"flat with {label}, {backend} (slowest ÷ fastest, per CPU-second)", flat,
                                  "≈ 1 (≥ 0.8)", flat is not None and flat >= 0.8))
    if plans:
        indexed = all(uses_index(plans, label) for label in HOT_QUERIES)
        targets.append(target("hot queries use indexes (EXPLAIN, PostgreSQL)", "yes" if indexed else "no",
                              "every one indexed", indexed))
    table(["target", "value", "goal", "met"], [[t["target"], t["value"], t["goal"], t["met"]] for t in targets],
          "\nTargets")
    if budget:
        run_.notes.append(f"Each throughput run stops after {budget:.0f} s (the rate is steady: look-ups are "
                          f"indexed); `--budget 0` routes the whole {messages:,}-message workload.")
    run_.save({"throughput": rows, "scaling": scaled, "explain": plans, "profile": prof}, targets)
    return {"throughput": rows}


if __name__ == "__main__":
    main()
