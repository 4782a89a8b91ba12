"""``reauthorizationRequired`` as routine: sent before the access token behind a subscription expires.

Graph sends this lifecycle notification not only when access is revoked but whenever the access token
the subscription was created (or last renewed) with is about to expire; the app answers by reauthorizing
(``POST /subscriptions/{id}/reauthorize``) or renewing it (``PATCH expirationDateTime``) with a current
token, else notifications stop: https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events
("Responding to reauthorizationRequired notifications"). The exact lead time is not documented; the
default here is ten minutes. Each token is warned about once: a renewal made with the same, still valid
token is accepted and is not warned about again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from emulators.clock import Clock

from .subscriptions import SubscriptionStore

LEAD_SECONDS = 600.0


class ReauthorizationTimer:
    """Watches the subscriptions' tokens (emulated time) and warns through ``send(subscription_id, event)``."""

    def __init__(self, store: SubscriptionStore, clock: Clock, send: Callable[[str, str], object],
                 lead_seconds: float = LEAD_SECONDS) -> None:
        self.store, self.clock, self.send = store, clock, send
        self.lead_seconds = lead_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="graph-reauthorization", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> int:
        """Warn every subscription whose token expires within the lead time; how many were warned."""
        now, warned = self.clock.now(), 0
        for sub in self.store.all():
            expiring = sub.token_expires and sub.token_expires - self.lead_seconds <= now
            if expiring and sub.lifecycle_url and sub.warned_token != sub.token_expires:
                sub.warned_token = sub.token_expires
                self.send(sub.id, "reauthorizationRequired")
                warned += 1
        return warned

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self.check()
