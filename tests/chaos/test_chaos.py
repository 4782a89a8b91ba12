"""The acceptance bar of the sync engine: under injected chaos, nothing lost, nothing duplicated.

`make test` runs a small workload; `make chaos` (BCC_CAPTURE_CHAOS=full) the full one: 50 mailboxes,
10,000 messages, three worker processes on PostgreSQL, two of them killed with SIGKILL mid-run.

The workload is as hostile as the real services (issue 13): strangers' mail under a logged conversation's very
subject, Gmail filters that archive some clients' replies, Outlook Inbox rules that move some clients' mail into
Clients/Key clients or mark it read, an Outlook user who signs in with a UPN that is not her address (connected by
consent, revoked and reconnected), a draft Bcc'ing a matter in every mailbox, and a slow phase (large pages
5–30 s × 0.2, answers cut off mid-body, an 8 s 503 spell on both services). The oracle: 0 lost, 0 duplicated,
0 wrongly filed (no draft, no stranger), every thread exactly its messages, the mail the rules moved or marked
read and the UPN user's mail filed like everyone's.
"""

from __future__ import annotations

import os
import time

import pytest

from bench.workload import Workload, generate
from tests.chaos.harness import Faults, Rig
from tests.chaos.hostile import archive_clients, file_by_rules, save_drafts, sign_in_names

FULL = os.environ.get("BCC_CAPTURE_CHAOS") == "full"
# Replies with an edited subject (a new Gmail/Outlook thread, still their conversation), read before or after
# the message they answer is logged: connector/sync/parked.py.
EDITED = float(os.environ.get("BCC_CAPTURE_CHAOS_EDITED", "0.15"))
SLOW_SECONDS = 60 if FULL else 20  # how long the slow phase lasts after the last message is sent
SIZE = {"mailboxes": 50, "messages": 10_000} if FULL else {"mailboxes": 8, "messages": 400}
PROVIDERS = ("graph", "gmail")


def run_chaos(database_url: str, workers: int) -> dict[str, object]:
    workload = generate(seed=2026, providers=PROVIDERS, hostile=0.15, edited_subjects=EDITED, **SIZE)
    expected = workload.expected_logged
    upns = sign_in_names(workload)
    rig = Rig(workload, database_url, workers=workers, faults=Faults(), upns=upns)
    victim = workload.by_provider("graph")[1].address  # she signs in with her UPN
    assert victim in upns
    with rig.running():
        archive_clients(rig.gmail, workload, ("client01.example", "client02.example"))  # Gmail filters
        rules = file_by_rules(rig.graph, workload, rig.world_apps(), upns)  # Outlook Inbox rules
        drafts = save_drafts(rig.graph, rig.gmail, workload, rig.world_apps(), upns)
        rig.arm_faults()
        started = time.monotonic()
        rig.send_all({
            0.10: rig.slow_phase,
            0.25: rig.kill_one,
            0.40: lambda: rig.graph.expire_delta(workload.by_provider("graph")[0].address),
            0.45: lambda: rig.gmail.expire_history(workload.by_provider("gmail")[0].address),
            0.50: lambda: rig.graph.revoke_grant(victim),
            0.70: rig.kill_one,
            0.85: lambda: rig.connect(victim),  # the user reconnects
        })
        sent_in = time.monotonic() - started
        rig.outage()  # after the reconnect: a user reconnecting during an outage just tries again later
        time.sleep(SLOW_SECONDS)  # the workers sync against the slow services meanwhile
        slow = rig.slow_figures()
        rig.end_slow_phase()
        rig.calm()
        settled_in = rig.settle(expected, timeout=600 if FULL else 180)
        logged = rig.logged_ids()
        subjects = rig.logged_subjects()
        threads = rig.threads()
        health = rig.mailbox_health()
        moved, marked = rig.filed_by_rules(rules)
    strangers = {m.message_id for m in workload.messages if m.message_id.startswith("<s")}
    edited = {m.message_id for m in workload.messages if "(revised)" in m.subject} & expected
    ruled = (moved | marked) & expected
    upn_mail = {m.message_id for m in workload.messages
                if {m.sender.address, *(p.address for p in (*m.to, *m.cc))} & set(upns)} & expected
    totals = {"mailboxes": len(workload.users), "messages": len(workload.messages), "expected": len(expected),
              "logged": len(logged), "duplicates": len(logged) - len(set(logged)),
              "lost": len(expected - set(logged)), "extra": len(set(logged) - expected), "kills": rig.kills,
              "workers": workers, "sent_in_s": round(sent_in, 1), "settled_in_s": round(settled_in, 1),
              "drafts_filed": len(set(drafts) & subjects), "strangers_filed": len(strangers & set(logged)),
              "edited_subject_filed": f"{len(edited & set(logged))}/{len(edited)}",
              "rules_filed": f"{len(ruled & set(logged))}/{len(ruled)} ({len(moved & expected)} moved)",
              "upn_filed": f"{len(upn_mail & set(logged))}/{len(upn_mail)}", **slow}
    print("\nchaos totals:", totals)
    for lost in _lost_by_conversation(workload, expected - set(logged)):
        print("lost:", lost)
    assert settled_in >= 0, f"did not settle: {totals}, unhealthy: {[h for h in health if h.status != 'synced']}"
    assert totals["lost"] == 0 and totals["duplicates"] == 0 and totals["extra"] == 0, totals
    assert totals["drafts_filed"] == 0 and totals["strangers_filed"] == 0 and edited <= set(logged), totals
    assert moved & expected and marked & expected and ruled <= set(logged), totals  # the rules acted, all filed
    assert upn_mail and upn_mail <= set(logged), totals
    expected_threads = sorted(sorted(t) for t in workload.expected_threads.values())
    assert sorted(sorted(t) for t in threads.values()) == expected_threads
    assert all(h.status == "synced" for h in health)
    return totals


@pytest.mark.chaos
def test_chaos_on_postgresql_with_three_worker_processes(fresh_pg_url: str) -> None:
    run_chaos(fresh_pg_url, workers=3)


@pytest.mark.chaos
def test_chaos_on_sqlite_with_one_worker(tmp_path) -> None:
    run_chaos(f"sqlite:///{tmp_path / 'chaos.db'}", workers=1)


def _lost_by_conversation(workload: Workload, lost: set[str]) -> list[str]:
    """Each conversation that lost mail, message by message (L lost, + logged or expected, - not expected): what
    a failed run needs to be understood without running it again."""
    conversations = sorted({m.conversation for m in workload.messages if m.message_id in lost})
    expected = workload.expected_logged
    lines = []
    for number in conversations[:40]:
        shown = [f"{'L' if m.message_id in lost else '+' if m.message_id in expected else '-'} {m.sender.address} "
                 f"{m.subject!r} bcc={m.bcc}" for m in workload.messages if m.conversation == number]
        lines.append(f"conversation {number}: " + " | ".join(shown))
    return lines
