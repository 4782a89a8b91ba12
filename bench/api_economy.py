"""API economy: HTTP requests, Gmail quota units and bytes per logged and per unrelated message.

A generated workload (bench/workload.py: mostly unrelated mail, some with the matter's dropbox
address, some replies in logged threads, some copies in several connected mailboxes) is sent
through the emulators' post office and synced by the real adapters, SyncEngine and Worker
(in-process, SQLite). The same workload is then synced again with the naive strategy
(bench/naive.py: every changed message fetched in full, one call each).

Two arrival patterns are measured:
* ``trickle`` – one message at a time, each followed by a sync of the mailboxes it reached (what a
  notification per message does to a quiet mailbox);
* ``batched`` – the workload in a few large rounds (a busy mailbox, or catching up after a pause).

Attribution: every emulator request is charged either to logged or to unrelated mail. Calls that
name a message (metadata, `$value`/`format=raw`) go to that message; thread and Message-ID
look-ups go to logged mail (only a logged thread causes them); change-feed pages (Graph delta,
Gmail history.list) are shared pro rata over the message copies they delivered. A batch's HTTP
request is split evenly over the calls it carried. A full download of a logged conversation's message that is
not filed (a reply among colleagues only, refused as internal-only) is counted apart from the downloads of
unrelated mail: the core follows that thread, and Gmail charges a header read as much as the download.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, select

from bench import naive
from bench.common import RESULTS, Run, database, parse_args, table, target
from bench.observe import Call, Observer
from bench.rig import Rig
from bench.workload import Workload, generate
from connector.models import Mailbox
from emulators.gmail.quota import PER_USER_PER_MINUTE

NAME = "api_economy"


@dataclass
class Tally:
    requests: float = 0.0
    units: float = 0.0
    bytes: float = 0.0
    bodies: int = 0  # full-body downloads ($value / format=raw)
    body_bytes: int = 0


@dataclass
class Outcome:
    provider: str
    strategy: str
    pattern: str
    logged_messages: int = 0  # distinct logged messages that had a copy in this provider's mailboxes
    unrelated_messages: int = 0
    copies_logged: int = 0
    copies_unrelated: int = 0
    http_requests: int = 0  # from the emulator's request log (batch envelopes counted once)
    quota_units: int = 0  # Gmail: from the emulator's quota accounting
    logged: Tally = field(default_factory=Tally)
    unrelated: Tally = field(default_factory=Tally)
    # Full downloads of a logged conversation's mail that is not filed (replies among colleagues only, refused as
    # internal-only): in a thread the core follows, a header read would cost Gmail as much as the download.
    bodies_refused_in_thread: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        per = lambda value, count: round(value / count, 3) if count else None  # noqa: E731
        return {
            "provider": self.provider, "strategy": self.strategy, "pattern": self.pattern,
            "logged_messages": self.logged_messages, "unrelated_messages": self.unrelated_messages,
            "copies_logged": self.copies_logged, "copies_unrelated": self.copies_unrelated,
            "http_requests": self.http_requests, "quota_units": self.quota_units,
            "requests_per_logged": per(self.logged.requests, self.logged_messages),
            "requests_per_unrelated": per(self.unrelated.requests, self.unrelated_messages),
            "units_per_logged": per(self.logged.units, self.logged_messages),
            "units_per_unrelated": per(self.unrelated.units, self.unrelated_messages),
            "bytes_per_logged": per(self.logged.bytes, self.logged_messages),
            "bytes_per_unrelated": per(self.unrelated.bytes, self.unrelated_messages),
            "full_bodies_unrelated": self.unrelated.bodies, "full_body_bytes_unrelated": self.unrelated.body_bytes,
            "full_bodies_logged": self.logged.bodies, "full_bodies_refused_in_thread": self.bodies_refused_in_thread,
            "by_endpoint": self.by_endpoint,
        }


# ----------------------------------------------------------------------------------------- running
def run(workload: Workload, strategy: str, pattern: str, rounds: int) -> tuple[list[Outcome], dict[str, Any]]:
    observer = Observer()
    with database("sqlite", "economy") as url:
        rig = Rig(workload, url, sync_overrides={"safety_net_minutes": 600}, before_start=observer.install)
        wrappers: dict[str, Any] = {}
        if strategy == "naive":
            wrappers = naive.wrappers()
        try:
            with rig.running(provider_wrappers=wrappers) as rig:
                outcomes, facts = _drive(rig, observer, pattern, rounds, strategy)
        finally:
            observer.uninstall()
    return outcomes, facts


def _drive(rig: Rig, observer: Observer, pattern: str, rounds: int,
           strategy: str) -> tuple[list[Outcome], dict[str, Any]]:
    worker = rig.worker()
    rig.wake_all()
    rig.drain(worker)  # first steps: cursors at "now" (not measured)
    rig.graph.clear_request_log()
    rig.gmail.reset_request_log()
    observer.enabled = True
    with Session(rig.engine) as session:
        ids = {m.address: m.id for m in session.exec(select(Mailbox))}
    reached: set[str] = set()
    for provider in ("graph", "gmail"):
        rig.office.listen(provider, lambda delivery: reached.add(delivery.mailbox))
    total = len(rig.workload.messages)
    chunk = 1 if pattern == "trickle" else max(1, -(-total // rounds))
    started = time.monotonic()
    steps = 0
    for start in range(0, total, chunk):
        for index in range(start, min(total, start + chunk)):
            rig.send(index)
        _wake(rig, [ids[a] for a in reached if a in ids])
        reached.clear()
        steps += rig.drain(worker)
    seconds = time.monotonic() - started
    observer.enabled = False
    logged = rig.logged_ids()
    expected = rig.workload.expected_logged
    facts = {"sync_seconds": round(seconds, 1), "steps": steps, "logged": len(logged), "expected": len(expected),
             "missing": len(expected - logged), "unexpected": len(logged - expected)}
    calls = observer.snapshot()
    return [_attribute(rig, calls, provider, logged, pattern, strategy) for provider in ("graph", "gmail")], facts


def _wake(rig: Rig, mailbox_ids: Sequence[int | None]) -> None:
    from sqlalchemy import update
    from sqlmodel import col

    from bench.rig import utcnow
    from connector.db import transaction

    wanted = [i for i in mailbox_ids if i is not None]
    if not wanted:
        return
    with transaction(rig.engine) as session:
        session.exec(update(Mailbox).where(col(Mailbox.id).in_(wanted)).values(  # type: ignore[call-overload]
            next_sync_at=utcnow()))


# ----------------------------------------------------------------------------------------- attribution
def _copies(rig: Rig, provider: str) -> dict[str, str]:
    """Provider message id → internet message id, for every copy in the provider's mailboxes."""
    found: dict[str, str] = {}
    for person in rig.workload.users:
        if person.provider != provider:
            continue
        if provider == "graph":
            for message in rig.graph.messages(person.address):
                found[message.id] = message.parsed.message_id.strip()
        else:
            for rfc822, gmail_ids in rig.gmail.mailbox(person.address).by_rfc822.items():
                for gmail_id in gmail_ids:
                    found[gmail_id] = rfc822
    return found


def _groups(calls: list[Call], provider: str) -> list[tuple[Call, list[Call]]]:
    """HTTP requests with the calls each carried (a batch: its sub-calls; otherwise itself)."""
    mine = [c for c in calls if c.provider == provider]
    groups: list[tuple[Call, list[Call]]] = []
    if provider == "graph":  # sub-calls are recorded before their $batch
        pending: list[Call] = []
        for call in mine:
            if call.in_batch:
                pending.append(call)
            elif call.kind == "batch":
                groups.append((call, pending))
                pending = []
            else:
                groups.append((call, [call]))
    else:  # the batch marker comes first, then its sub-calls
        for call in mine:
            if call.kind == "batch":
                groups.append((call, []))
            elif call.in_batch and groups:
                groups[-1][1].append(call)
            else:
                groups.append((call, [call]))
    return groups


def _attribute(rig: Rig, calls: list[Call], provider: str, logged: set[str], pattern: str,
               strategy: str) -> Outcome:
    copies = _copies(rig, provider)
    out = Outcome(provider, strategy, pattern)
    messages = set(copies.values())
    out.logged_messages = len(messages & logged)
    out.unrelated_messages = len(messages - logged)
    out.copies_logged = sum(1 for imid in copies.values() if imid in logged)
    out.copies_unrelated = len(copies) - out.copies_logged
    share_logged = out.copies_logged / len(copies) if copies else 0.0
    conversation = {m.message_id: m.conversation for m in rig.workload.messages}
    followed = rig.workload.logged_conversations
    for request, carried in _groups(calls, provider):
        parts = carried or [request]
        for call in parts:
            weight = 1 / len(parts)  # this call's share of the HTTP request
            if call.message_id and call.kind in ("metadata", "body"):
                message = copies.get(call.message_id)
                in_thread = message not in logged and conversation.get(message or "") in followed
                _charge(out.logged if message in logged else out.unrelated, weight, call, count_body=not in_thread)
                out.bodies_refused_in_thread += in_thread and call.kind == "body"
            elif call.kind == "conversation":
                _charge(out.logged, weight, call)
            else:  # change-feed pages and the rest: shared by the copies they brought
                _charge(out.logged, weight * share_logged, call, share_logged)
                _charge(out.unrelated, weight * (1 - share_logged), call, 1 - share_logged)
    if provider == "graph":
        log = [r for r in rig.graph.request_log() if not r.in_batch]
        out.http_requests = len(log)
        out.by_endpoint = dict(Counter(r.endpoint for r in rig.graph.request_log()))
    else:
        log_calls = rig.gmail.request_log()
        out.http_requests = sum(1 for c in log_calls if not c.in_batch)
        out.quota_units = sum(rig.gmail.quota_units().values())
        out.by_endpoint = dict(Counter(c.method for c in log_calls))
    return out


def _charge(tally: Tally, weight: float, call: Call, share: float = 1.0, count_body: bool = True) -> None:
    tally.requests += weight
    tally.units += call.units * share
    tally.bytes += call.bytes * share
    if call.kind == "body" and share == 1.0 and count_body:
        tally.bodies += 1
        tally.body_bytes += call.bytes


# ----------------------------------------------------------------------------------------- report
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    run_ = Run(NAME, args)
    before = _saved(args.quick)
    quick = {"trickle": (6, 40), "batched": (6, 150)}  # pattern: (mailboxes, messages)
    sizes = quick if args.quick else {"trickle": (20, 300), "batched": (20, 2000)}
    rounds = 10
    results: list[dict[str, Any]] = []
    runs: dict[str, Any] = {}
    for pattern, (mailboxes, messages) in sizes.items():
        workload = generate(seed=17, mailboxes=mailboxes, messages=messages, logged_share=0.2, noise=0.6)
        for strategy in ("adapter", "naive"):
            began = time.monotonic()
            outcomes, facts = run(workload, strategy, pattern, rounds)
            facts["wall_seconds"] = round(time.monotonic() - began, 1)
            facts["logged_share_of_messages"] = round(len(workload.expected_logged) / len(workload.messages), 3)
            runs[f"{pattern}/{strategy}"] = {"mailboxes": mailboxes, "messages": messages, **facts}
            print(f"{pattern}/{strategy}: {facts}")
            results += [o.row() for o in outcomes]
    _print(results)
    figures = {"runs": runs, "results": results, "rounds_when_batched": rounds}
    targets = _targets(results) + [
        target(f"answer key logged exactly, adapter ({pattern})", f"{facts['logged']}/{facts['expected']}", "all",
               not facts["missing"] and not facts["unexpected"])
        for pattern in sizes if (facts := runs[f"{pattern}/adapter"])]
    figures["ratios"] = _ratios(results)
    table(["pattern", "provider", "naive ÷ adapter: requests", "quota units", "bytes"],
          [[r["pattern"], r["provider"], r["requests"], r["units"] or "-", r["bytes"]] for r in figures["ratios"]],
          "\nNaive strategy vs the adapters (same workload)")
    _before_after(before, results)
    _gmail_before_after(before, results)
    table(["target", "value", "goal", "met"], [[t["target"], t["value"], t["goal"], t["met"]] for t in targets],
          "\nTargets")
    run_.notes.append("In-process worker on SQLite; no notifications (a wake-up per round stands for them).")
    run_.save(figures, targets)
    return figures


def _saved(quick: bool) -> dict[str, Any]:
    """The results of the last saved run of the same size (``bench/results``), to print beside this one."""
    path = RESULTS / f"{NAME}{'-quick' if quick else ''}.json"
    if not path.exists():
        return {}
    saved = json.loads(path.read_text(encoding="utf-8"))
    return {"revision": saved.get("git_revision", "?"), "results": saved.get("figures", {}).get("results", [])}


def _before_after(before: dict[str, Any], results: list[dict[str, Any]]) -> None:
    """Graph, per logged message and unrelated full downloads: the last saved run beside this one."""
    old = {(r["pattern"], r["strategy"]): r for r in before.get("results", []) if r["provider"] == "graph"}
    rows = [[r["pattern"], r["strategy"], old.get((r["pattern"], r["strategy"]), {}).get("requests_per_logged", "-"),
             r["requests_per_logged"], old.get((r["pattern"], r["strategy"]), {}).get("full_bodies_unrelated", "-"),
             r["full_bodies_unrelated"]] for r in results if r["provider"] == "graph"]
    table(["pattern", "strategy", "req/logged before", "after", "bodies unrel before", "after"], rows,
          f"\nGraph: the last saved run (revision {before.get('revision', 'none')}) and this one")


def _gmail_before_after(before: dict[str, Any], results: list[dict[str, Any]]) -> None:
    """Gmail quota units per message, the last saved run beside this one, and what they leave of a user's
    minute under the 2026 model (6,000 units per user per minute for projects created since May 2026)."""
    old = {(r["pattern"], r["strategy"]): r for r in before.get("results", []) if r["provider"] == "gmail"}
    rows = []
    for r in (r for r in results if r["provider"] == "gmail"):
        was = old.get((r["pattern"], r["strategy"]), {})
        per_minute = round(PER_USER_PER_MINUTE / r["units_per_logged"]) if r["units_per_logged"] else "-"
        rows.append([r["pattern"], r["strategy"], was.get("units_per_logged", "-"), r["units_per_logged"],
                     was.get("units_per_unrelated", "-"), r["units_per_unrelated"], per_minute])
    table(["pattern", "strategy", "units/logged before", "after", "units/unrel before", "after",
           "logged mail a user-minute allows"], rows,
          f"\nGmail quota (2026 model, {PER_USER_PER_MINUTE:,} units per user per minute): the last saved run "
          f"(revision {before.get('revision', 'none')}) and this one")


def _print(results: list[dict[str, Any]]) -> None:
    table(["pattern", "provider", "strategy", "logged", "unrelated", "HTTP", "req/logged", "req/unrel",
           "units/logged", "units/unrel", "bytes/unrel", "bodies unrel"],
          [[r["pattern"], r["provider"], r["strategy"], r["logged_messages"], r["unrelated_messages"],
            r["http_requests"], r["requests_per_logged"], r["requests_per_unrelated"],
            r["units_per_logged"] if r["provider"] == "gmail" else "-",
            r["units_per_unrelated"] if r["provider"] == "gmail" else "-", r["bytes_per_unrelated"],
            r["full_bodies_unrelated"]] for r in results],
          "\nPer message (all requests charged to logged or unrelated mail)")


def _units(r: dict[str, Any]) -> list[Any]:
    return [r["units_per_logged"], r["units_per_unrelated"]] if r["provider"] == "gmail" else ["-", "-"]


def _ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    index = defaultdict(dict)
    for r in results:
        index[(r["pattern"], r["provider"])][r["strategy"]] = r
    for (pattern, provider), pair in index.items():
        a, n = pair.get("adapter"), pair.get("naive")
        if not a or not n:
            continue
        ratio = lambda x, y: round(x / y, 2) if y else None  # noqa: E731
        bytes_a = (a["bytes_per_logged"] or 0) * a["logged_messages"] + (a["bytes_per_unrelated"] or 0) * a[
            "unrelated_messages"]
        bytes_n = (n["bytes_per_logged"] or 0) * n["logged_messages"] + (n["bytes_per_unrelated"] or 0) * n[
            "unrelated_messages"]
        out.append({"pattern": pattern, "provider": provider, "requests": ratio(n["http_requests"], a["http_requests"]),
                    "units": ratio(n["quota_units"], a["quota_units"]) if provider == "gmail" else None,
                    "bytes": ratio(bytes_n, bytes_a)})
    return out


def _targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for r in results:
        if r["strategy"] != "adapter":
            continue
        label = f"{r['provider']} ({r['pattern']})"
        value = r["requests_per_logged"]
        found.append(target(f"HTTP requests per logged message, {label}", value, "≤ 1.05",
                            value is not None and value <= 1.05))
        found.append(target(f"full bodies downloaded for unrelated mail, {label}", r["full_bodies_unrelated"], "0",
                            r["full_bodies_unrelated"] == 0))
        found.append(target(f"full bodies of internal-only replies in logged threads (refused), {label}",
                            r["full_bodies_refused_in_thread"], "(reported)", True))
    for ratio in _ratios(results):
        if ratio["provider"] == "gmail":
            found.append(target(f"Gmail quota units, naive ÷ adapter ({ratio['pattern']})", ratio["units"], "≥ 10×",
                                ratio["units"] is not None and ratio["units"] >= 10, "×"))
    return found


if __name__ == "__main__":
    main()
