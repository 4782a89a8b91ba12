"""A sync step says where its time went and what it filed (its log line; bench.latency joins these to each
message's notification): the page's message is committed before the thread's earlier one it pulled in."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.sync import leases
from connector.sync.engine import SyncEngine
from tests.conftest import World
from tests.connector.sync.test_states import KEY, ScriptedOutlook, _connect


def test_a_steps_timings_name_each_filed_message_with_the_end_of_its_commit(world: World,
                                                                            settings: Settings) -> None:
    mailbox_id = _connect(world)
    sync = SyncEngine(world.engine, settings, {"graph": ScriptedOutlook(world)}, TokenCipher(KEY))  # type: ignore[dict-item]
    assert leases.claim(world.engine, mailbox_id, "w1", datetime.now(UTC), ttl=60)
    before = time.time()
    result = sync.step(mailbox_id, "w1")
    timings = result.timings
    filed = timings["filed"]
    assert isinstance(filed, dict) and list(filed) == ["<e1@acme>", "<e0@client>"]  # page first, then its thread
    assert before <= timings["started_at"] <= filed["<e1@acme>"] <= filed["<e0@client>"] <= time.time()
    assert all(isinstance(timings[f"{part}_s"], float) and timings[f"{part}_s"] >= 0
               for part in ("provider", "backlog", "route", "commit"))
    assert result.logged == 2
