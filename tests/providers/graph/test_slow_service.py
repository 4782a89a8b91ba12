"""The Graph emulator on a bad day (emulators/slow.py): large delta pages slow, small ones not; a
connection reset mid-body; a 503 spell with and without Retry-After, in Graph's error shape."""

from __future__ import annotations

import httpx
import pytest

from tests.mailbuilder import mail
from tests.providers.graph.conftest import CLIENT_ID, TENANT, Seeded, app_token


def _inbox_delta(seeded: Seeded, token: str, page_size: int) -> httpx.Response:
    url = f"{seeded.urls.graph_url}/users/{seeded.alice.id}/mailFolders/inbox/messages/delta"
    with httpx.Client(trust_env=False) as http:
        return http.get(url, headers={"Authorization": f"Bearer {token}",
                                      "Prefer": f"odata.maxpagesize={page_size}"})


@pytest.fixture
def busy(seeded: Seeded) -> Seeded:
    seeded.emulator.grant_admin_consent(TENANT, CLIENT_ID)
    for n in range(30):
        seeded.emulator.send("client@clientco.example",
                             mail("client@clientco.example", [seeded.alice.address], subject=f"Item {n}"))
    return seeded


def test_a_large_delta_page_is_slowed_and_a_small_one_is_not(busy: Seeded) -> None:
    slow = busy.emulator.faults.slow
    slow.arm(time_factor=0.01, large_from=20, full_at=100)
    token = app_token(busy)

    small = _inbox_delta(busy, token, 10)
    assert small.status_code == 200 and len(small.json()["value"]) == 10
    assert slow.slowed == 0
    large = _inbox_delta(busy, token, 25)
    assert large.status_code == 200 and len(large.json()["value"]) == 25  # slow, but the whole answer
    assert slow.slowed == 1
    assert slow.delay_for(25) == pytest.approx(0.01 * (5 + 25 * 0.25))  # 5–30 s at time factor 1
    assert slow.delay_for(500) == pytest.approx(0.01 * 30)


def test_a_connection_reset_mid_body_then_a_whole_answer(busy: Seeded) -> None:
    busy.emulator.faults.slow.arm(time_factor=0, reset_probability=1.0)
    token = app_token(busy)
    with pytest.raises(httpx.RemoteProtocolError, match="peer closed connection"):
        _inbox_delta(busy, token, 10)
    assert busy.emulator.faults.slow.resets == 1

    busy.emulator.faults.clear()
    assert _inbox_delta(busy, token, 10).status_code == 200


def test_a_503_spell_answers_every_call_until_it_ends(busy: Seeded) -> None:
    token = app_token(busy)
    busy.emulator.faults.slow.spell(600)
    for _ in range(3):
        down = _inbox_delta(busy, token, 10)
        assert down.status_code == 503 and "retry-after" not in down.headers
        assert down.json()["error"]["code"] == "serviceNotAvailable"
    busy.emulator.faults.slow.spell(600, retry_after=7)
    assert _inbox_delta(busy, token, 10).headers["retry-after"] == "7"

    busy.emulator.faults.clear()  # the spell is over
    assert _inbox_delta(busy, token, 10).status_code == 200
