"""Gmail quota as the connector counts it and as Gmail (the emulator) charges it: one per-method table on
both sides, the same figure after a day's work, and the per-user limit of the 2026 model turning into
throttling the sync engine backs off from."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.config import Settings
from connector.errors import Throttled
from connector.ports import MailboxRef
from emulators.gmail import GmailEmulator
from emulators.gmail import quota as emulated
from providers.gmail import quota
from providers.gmail.adapter import GmailProvider, build

from .conftest import ANN, BOB, DROPBOX, TOPIC, PushReceiver, connect, mailbox_ref, send

pytestmark = pytest.mark.timeout(60)
GET = "gmail.users.messages.get"


def test_the_connector_counts_units_from_the_table_gmail_charges_from() -> None:
    assert {method: emulated.UNITS[method] for method in quota.UNITS} == quota.UNITS
    assert quota.PER_USER_PER_MINUTE == emulated.PER_USER_PER_MINUTE == 6_000
    assert quota.UNLISTED_UNITS == emulated.UNLISTED_UNITS


def _a_days_work(provider: GmailProvider, ann: MailboxRef, service_for, receiver: PushReceiver,
                 emulator: GmailEmulator) -> int:
    """Every kind of call the connector makes; returns the units it counted for them."""
    emulator.configure_push(TOPIC, receiver.url)
    cursor = provider.start_cursor(ann)
    for n in range(3):  # Ann's own client: her quota, not the connector's
        send(service_for(ANN), ANN, BOB, f"Brief {n}", Bcc=DROPBOX)
    emulator.reset_request_log()
    before = provider.usage().quota_units
    provider.subscribe(ann, receiver.url, datetime.now(UTC), "")
    stubs = provider.read_changes(ann, cursor).envelopes
    headers = provider.headers(ann, stubs)
    provider.fetch_full(ann, headers)
    provider.thread(ann, headers[0])
    provider.recent(ann, datetime.now(UTC).replace(hour=0, minute=0))
    return provider.usage().quota_units - before


@pytest.mark.parametrize("override", [{}, {GET: 8, "gmail.users.history.list": 4}])
def test_what_the_connector_counts_is_what_gmail_charged(connector_settings: Settings, emulator: GmailEmulator,
                                                         service_for, receiver: PushReceiver,
                                                         override: dict[str, int]) -> None:
    # A figure Google changes is one setting on each side: gmail.quota_units here, the emulator's table there.
    emulator.set_quota(units=override)
    settings = connector_settings.model_copy(update={"gmail": connector_settings.gmail.model_copy(
        update={"quota_units": override})})
    provider = build(settings, lambda: datetime.now(UTC))[0]
    ann = mailbox_ref(connect(settings, ANN))
    counted = _a_days_work(provider, ann, service_for, receiver, emulator)
    charged = emulator.quota_units(ANN)
    assert charged[GET] > 0 and charged["gmail.users.watch"] == 100
    assert counted == sum(charged.values())
    assert provider.usage().by_endpoint[GET] == emulator.request_counts(ANN)[GET]


def test_over_the_per_user_limit_the_mailbox_is_throttled_for_half_a_window(
        connector_settings: Settings, emulator: GmailEmulator, service_for) -> None:
    provider = build(connector_settings, lambda: datetime.now(UTC))[0]
    ann = mailbox_ref(connect(connector_settings, ANN))
    cursor = provider.start_cursor(ann)
    send(service_for(ANN), ANN, BOB, "Brief", Bcc=DROPBOX)  # 100 units of Ann's minute
    emulator.set_quota(per_user_per_minute=101 + quota.UNITS["gmail.users.history.list"])
    stubs = provider.read_changes(ann, cursor).envelopes
    spent = provider.usage().quota_units
    with pytest.raises(Throttled) as throttled:  # 403 userRateLimitExceeded, no Retry-After
        provider.headers(ann, stubs)
    assert throttled.value.status == 403 and throttled.value.retry_after == 30.0
    assert provider.usage().quota_units == spent  # refused calls cost nothing
    emulator.advance_clock(61)  # the minute has passed
    assert [e.subject for e in provider.headers(ann, stubs)] == ["Brief"]
