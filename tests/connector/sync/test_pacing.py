"""The rules a sync keeps against a slow provider, one story each: timeouts sized to the page asked for,
pages halved after a timeout and doubled back after good steps, and a backoff that never waits long for a
service that answers at all while Retry-After is still honoured."""

from __future__ import annotations

from connector.errors import PermanentError, Throttled, TimedOut, TransientError
from connector.sync import policy
from connector.sync.pacing import Pacer
from connector.sync.settings import SyncSettings

SETTINGS = SyncSettings(page_size=50, min_page_size=5, grow_after=3, request_timeout_seconds=20,
                        timeout_per_record_seconds=0.4)


def test_a_request_may_take_longer_the_more_records_it_asks_for() -> None:
    pacer = Pacer(SETTINGS)
    assert pacer.timeout_for(5) == 22.0
    assert pacer.timeout_for(500) == 220.0
    assert pacer.pace(7).timeout == 40.0  # the full page of 50


def test_a_timed_out_step_halves_that_mailboxs_pages_down_to_the_floor_and_no_one_elses() -> None:
    pacer = Pacer(SETTINGS)
    sizes = []
    for _ in range(5):
        pacer.failed(1, TimedOut("slow page"))
        sizes.append(pacer.pace(1).page_size)
    assert sizes == [25, 12, 6, 5, 5]
    assert pacer.pace(1).timeout == 22.0
    assert pacer.pace(2).page_size == 50


def test_other_failures_leave_the_page_size_alone() -> None:
    pacer = Pacer(SETTINGS)
    for error in (TransientError("503"), Throttled("429", retry_after=3), PermanentError("400")):
        pacer.failed(1, error)
    assert pacer.pace(1).page_size == 50


def test_good_steps_grow_a_shrunk_page_back_to_the_configured_size() -> None:
    pacer = Pacer(SETTINGS)
    pacer.failed(1, TimedOut("slow"))
    pacer.failed(1, TimedOut("slow"))  # 12
    grown = []
    for _ in range(9):
        pacer.succeeded(1)
        grown.append(pacer.pace(1).page_size)
    assert grown == [12, 12, 24, 24, 24, 48, 48, 48, 50]
    pacer.failed(1, TimedOut("slow again"))
    pacer.succeeded(1)
    pacer.succeeded(1)
    pacer.failed(1, TimedOut("and again"))  # the good count starts over after a timeout
    assert pacer.pace(1).page_size == 12


def test_a_service_that_answers_is_never_waited_for_longer_than_the_answering_cap() -> None:
    for attempts in (1, 5, 20, 200):
        for error in (TransientError("503"), TimedOut("slow")):
            assert policy.delay_for(error, attempts, cap=900, answering_cap=120) <= 120 + 1  # + jitter


def test_retry_after_is_honoured_and_permanent_failures_back_off_further() -> None:
    assert policy.delay_for(Throttled("429", retry_after=300), 1, cap=900, answering_cap=120) == 300
    assert policy.delay_for(Throttled("429", retry_after=5000), 1, cap=900, answering_cap=120) == 900
    assert policy.delay_for(PermanentError("400"), 20, cap=900, answering_cap=120) > 120


def test_the_first_failure_after_progress_waits_about_a_second() -> None:
    # Engine: a step that committed anything has reset its count, so its failure is attempt 1 again.
    assert 1 <= policy.delay_for(TransientError("reset mid-body"), 1, cap=900, answering_cap=120) <= 2
    assert policy.delay_for(TransientError("503"), 6, cap=900, answering_cap=120) >= 32
