"""The Gmail emulator on a bad day (emulators/slow.py), through google-api-python-client: a large history
page slowed and a small one not; a connection reset mid-body; a 503 spell in Google's error shape."""

from __future__ import annotations

import http.client
from typing import Any

import httplib2
import pytest
from googleapiclient.errors import HttpError

from emulators.gmail import GmailEmulator
from tests.providers.gmail.conftest import ANN, BOB, send


@pytest.fixture
def ann_busy(emulator: GmailEmulator, service_for: Any) -> tuple[Any, str]:
    ann = service_for(ANN)
    start = ann.users().getProfile(userId="me").execute()["historyId"]
    bob = service_for(BOB)
    for n in range(30):
        send(bob, BOB, ANN, f"Item {n}")
    return ann, start


def _history(service: Any, start: str, page_size: int) -> dict[str, Any]:
    return service.users().history().list(userId="me", startHistoryId=start, maxResults=page_size,
                                          historyTypes=["messageAdded"]).execute(num_retries=0)


def test_a_large_history_page_is_slowed_and_a_small_one_is_not(emulator: GmailEmulator,
                                                                ann_busy: tuple[Any, str]) -> None:
    ann, start = ann_busy
    slow = emulator.faults.slow
    slow.arm(time_factor=0.01, large_from=20, full_at=100)
    assert len(_history(ann, start, 10)["history"]) == 10
    assert slow.slowed == 0
    assert len(_history(ann, start, 25)["history"]) == 25  # slow, but the whole answer
    assert slow.slowed == 1


def test_a_connection_reset_mid_body(emulator: GmailEmulator, ann_busy: tuple[Any, str]) -> None:
    ann, start = ann_busy
    emulator.faults.slow.arm(time_factor=0, reset_probability=1.0)
    with pytest.raises((http.client.HTTPException, httplib2.HttpLib2Error, OSError)):
        _history(ann, start, 10)
    assert emulator.faults.slow.resets >= 1

    emulator.clear_request_faults()
    assert len(_history(ann, start, 10)["history"]) == 10


def test_a_503_spell_in_googles_error_shape(emulator: GmailEmulator, ann_busy: tuple[Any, str]) -> None:
    ann, start = ann_busy
    emulator.faults.slow.spell(600)
    with pytest.raises(HttpError) as down:
        _history(ann, start, 10)
    assert down.value.resp.status == 503 and "retry-after" not in down.value.resp
    assert down.value.error_details[0]["reason"] == "backendError"
    emulator.faults.slow.spell(600, retry_after=9)
    with pytest.raises(HttpError) as again:
        _history(ann, start, 10)
    assert again.value.resp["retry-after"] == "9"

    emulator.clear_request_faults()  # the spell is over
    assert "history" in _history(ann, start, 10)
