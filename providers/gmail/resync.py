"""Headers a Gmail resync already read, kept while Gmail's quota stops it part-way.

A resync (the history id expired) lists the mailbox's recent messages and reads each one's headers: 20 quota
units a message since May 2026, so a mailbox with more than ~300 recent messages spends a user's whole minute
(6,000 units) before it is done, and Gmail answers the rest 403 userRateLimitExceeded. Begun again from the top,
every attempt would read the same first messages and be stopped at the same point, for ever (the full chaos run
left a resyncing mailbox so). The answers an attempt got are kept here per mailbox, so the next attempt asks only
for the rest and the resync ends after as many minutes as its quota needs. Kept `FRESH` seconds at most (a label
can change meanwhile: mail moved to Spam), dropped when the resync returns; one worker process's memory only.
"""

from __future__ import annotations

import threading
import time
from typing import Any

FRESH = 900.0  # seconds an attempt's answers may serve the next one


class ResyncReads:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[int, tuple[float, dict[str, dict[str, Any]]]] = {}  # mailbox id → (since, id → metadata)

    def of(self, mailbox_id: int) -> dict[str, dict[str, Any]]:
        """The metadata read so far by this mailbox's unfinished resync (filled in place by the next attempt)."""
        now = time.monotonic()
        with self._lock:
            # stale ones go, whichever mailbox they are of: a resync never finished (disconnected) leaves none behind
            self._kept = {m: kept for m, kept in self._kept.items() if now - kept[0] <= FRESH}
            kept = self._kept.get(mailbox_id) or (now, {})
            self._kept[mailbox_id] = kept
            return kept[1]

    def done(self, mailbox_id: int) -> None:
        with self._lock:
            self._kept.pop(mailbox_id, None)
