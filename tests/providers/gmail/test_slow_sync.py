"""A slow and flaky Gmail (emulators/slow.py), and a sync that keeps making progress against it
(connector/sync/pacing.py, policy.delay_for): a history page that times out makes the next pages smaller
until they answer; a step that filed something before failing does not escalate its backoff, consecutive
failures without progress do, and no backoff goes past the cap for a service that answers at all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.models import Mailbox
from connector.sync.engine import StepResult, SyncEngine
from connector.sync.worker import Worker
from tests.inspect_db import logged

from .office import CAROL, KEY, MATTER, Office

pytestmark = pytest.mark.timeout(180)
SLOW = {"request_timeout_seconds": 0.3, "timeout_per_record_seconds": 0.002, "page_size": 50, "min_page_size": 5,
        "answering_backoff_seconds": 30, "grow_after": 50}


def _worker(office: Office) -> Worker:
    """The office's provider and clock, with timeouts scaled as the emulator's slowness is (time factor)."""
    base: Settings = office.worker.settings
    settings = base.model_copy(update={"sync": base.sync.model_copy(update=SLOW)})
    sync = SyncEngine(office.engine, settings, {"gmail": office.provider}, TokenCipher(KEY), office.clock)
    return Worker(office.engine, settings, sync, {"gmail": office.provider}, owner="slow-worker", clock=office.clock)


def _round(office: Office, worker: Worker) -> list[StepResult]:
    """Whatever is due now is stepped; then the clock moves past every backoff the round set."""
    results = worker.run_once()
    office.clock.offset += timedelta(seconds=SLOW["answering_backoff_seconds"] + 1)
    return results


def _mailbox(office: Office) -> Mailbox:
    with Session(office.engine) as session:
        return session.exec(select(Mailbox)).one()  # Alice's, the office's only one


def test_a_history_page_that_times_out_makes_the_next_pages_smaller_until_they_answer(office: Office) -> None:
    _, first = office.alice_sends(CAROL, "Smith v. Jones: disclosure", Bcc=MATTER)
    office.sync()
    replies = [office.external_sends(CAROL, "Re: Smith v. Jones: disclosure", In_Reply_To=first, References=first)
               for _ in range(30)]
    office.emulator.faults.slow.arm(time_factor=0.05, large_from=20, full_at=100)  # 30 records: 0.6 s
    worker = _worker(office)
    office.clock.offset += timedelta(minutes=office.worker.settings.sync.safety_net_minutes)  # the safety net

    first_round = _round(office, worker)
    assert [r.action for r in first_round] == ["retry"]  # 50 asked, 30 came too slowly: 0.4 s allowed
    assert worker.sync.pacer.pace(_mailbox(office).id or 0).page_size == 25
    box = _mailbox(office)
    assert box.attempts == 1 and "TimedOut" in box.last_error
    for _ in range(6):
        _round(office, worker)
    assert worker.sync.pacer.pace(_mailbox(office).id or 0).page_size == 12  # 25 was still slow; 12 answers at once
    assert all(logged(office.engine, reply) is not None for reply in replies)
    assert _mailbox(office).attempts == 0 and office.emulator.faults.slow.slowed >= 2


def test_a_step_that_filed_something_before_failing_does_not_escalate_its_backoff(office: Office) -> None:
    worker = _worker(office)
    asked = office.external_sends(CAROL, "Smith v. Jones: costs")  # not logged: nobody filed it
    office.sync()
    office.emulator.fail_requests(503, next_n=None, probability=1.0, methods=["gmail.users.threads.get"])
    # Alice answers in Carol's thread with the matter in Bcc: the thread is logged, its earlier message is read next
    _, first = office.alice_sends(CAROL, "Re: Smith v. Jones: costs", Bcc=MATTER, In_Reply_To=asked, References=asked,
                                  thread_id=office.copy_of(asked)["threadId"])
    office.clock.offset += timedelta(minutes=office.worker.settings.sync.safety_net_minutes)  # the safety net
    assert [r.action for r in _round(office, worker)] == ["retry"]  # filed, then its thread's read failed
    assert logged(office.engine, first) is not None
    assert _mailbox(office).attempts == 1  # filed before it failed: progress, no escalation

    attempts = []
    for _ in range(3):  # no new mail, then the backlog keeps failing: only the cursor committed, the count climbs
        before = office.clock()
        assert [r.action for r in _round(office, worker)] == ["retry"]
        box = _mailbox(office)
        attempts.append(box.attempts)
        assert box.next_sync_at is not None
        assert box.next_sync_at.replace(tzinfo=None) <= (before + timedelta(seconds=31)).replace(tzinfo=None)
    assert attempts == [2, 3, 4]

    office.emulator.clear_request_faults()
    assert all(r.ok for r in _round(office, worker))
    assert _mailbox(office).attempts == 0
