"""Conversation listings read in the free slots of a download's `$batch`, for the thread read that follows it.

A step downloads the messages it will file, commits them, and then reads the earlier messages of every thread
the commit opened (`thread()`: one `GET /messages?$filter=conversationId eq …` each). Which of the downloaded
messages open a thread only the commit knows, but the listing of each one's conversation fits in the download's
own `$batch` while it has fewer than 20 items (the documented maximum), so the later `thread()` costs no request
of its own. A listing is kept for the step that asked for it only (taken once, dropped when the mailbox's next
step reads its changes, and never older than `FRESH`); one that failed or has more pages is simply not kept, and
`thread()` then lists as before. A message arriving after the listing comes with the next delta page, its thread
then logged, as one arriving after a `thread()` call would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from providers.graph.client import BatchAnswer

FRESH = 60.0  # seconds a listing may serve the step that asked for it
KEY = "t:"  # `$batch` item ids of the listings (downloads are numbered)


class Listings:
    """Conversation listings by (mailbox id, conversationId), shared by a worker's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[int, dict[str, tuple[float, dict[str, Any]]]] = {}  # mailbox id → conversationId → …

    def wanted(self, mailbox_id: int, conversations: Sequence[str], free: int) -> list[str]:
        """The conversations worth a slot: distinct, not already listed, at most ``free``."""
        with self._lock:
            kept = self._kept.get(mailbox_id, {})
            fresh = [c for c in dict.fromkeys(conversations) if c and c not in kept]
        return fresh[:max(free, 0)]

    def keep(self, mailbox_id: int, conversations: Sequence[str], answers: dict[str, BatchAnswer]) -> None:
        now = time.monotonic()
        with self._lock:
            for mailbox, listed in list(self._kept.items()):  # untaken ones (no thread opened) go once stale
                self._kept[mailbox] = {c: kept for c, kept in listed.items() if now - kept[0] <= FRESH}
            for n, conversation in enumerate(conversations):
                answer = answers.get(f"{KEY}{n}")
                if (answer is not None and answer.status == 200 and isinstance(answer.body, dict)
                        and not answer.body.get("@odata.nextLink")):
                    self._kept.setdefault(mailbox_id, {})[conversation] = (now, answer.body)

    def take(self, mailbox_id: int, conversation: str) -> dict[str, Any] | None:
        with self._lock:
            kept = self._kept.get(mailbox_id, {}).pop(conversation, None)
        return kept[1] if kept is not None and time.monotonic() - kept[0] <= FRESH else None

    def forget(self, mailbox_id: int) -> None:
        """A new step of the mailbox: what earlier steps listed is not fresh any more."""
        with self._lock:
            self._kept.pop(mailbox_id, None)
