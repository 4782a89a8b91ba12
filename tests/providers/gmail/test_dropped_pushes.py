"""Gmail drops the pushes over one a second per user
(https://developers.google.com/workspace/gmail/api/guides/push#notification_limits): a burst of mail gets
one push, and the connector still files every message within seconds: a sync woken by a push reads history
once more a moment later (the provider's push_settle_seconds), instead of leaving the rest to the safety net."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from connector.models import Mailbox
from tests.inspect_db import logged

from .office import ALICE, CAROL, MATTER, Office

pytestmark = pytest.mark.timeout(120)


def test_a_burst_of_ten_replies_in_one_second_gets_one_push_and_all_ten_are_filed(office: Office) -> None:
    office.emulator.set_push_interval(1)  # Gmail's rate, which the office lifts for its other stories
    _, first = office.alice_sends(CAROL, "Smith v. Jones: settlement", Bcc=MATTER)
    office.sync()
    assert logged(office.engine, first) is not None
    office.emulator.advance_clock(2)
    office.emulator.set_time_scale(0.01)  # ten replies inside one emulated second, however slow the machine
    pushed_before = len(office.receiver.pushes)

    replies = [office.external_sends(CAROL, "Re: Smith v. Jones: settlement", In_Reply_To=first, References=first)]
    office.sync()  # the burst's one push: the worker reads history as far as it goes now
    replies += [office.external_sends(CAROL, "Re: Smith v. Jones: settlement", In_Reply_To=first,
                                      References=first) for _ in range(9)]
    assert len(office.receiver.pushes) - pushed_before == 1 and office.emulator.dropped_pushes(ALICE) == 9

    office.clock.offset += timedelta(seconds=2)  # the settle read after the push, long before the safety net
    office.sync()
    for reply in replies:
        found = logged(office.engine, reply)
        assert found is not None and "matter:10802" in found.filed_under
    with Session(office.engine) as session:  # and then back to the safety net: no polling every second
        [mailbox] = session.exec(select(Mailbox).where(Mailbox.address == ALICE)).all()
        assert mailbox.next_sync_at is not None and mailbox.pending_since is None
        assert mailbox.next_sync_at - office.clock() > timedelta(minutes=10)
