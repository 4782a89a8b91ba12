"""How much to ask a slow provider for at once, and how long to wait for it: one pace per mailbox.

    page size   starts at `sync.page_size`; a step that timed out halves it (down to `sync.min_page_size`),
                `sync.grow_after` good steps in a row double it again (up to `sync.page_size`)
    timeout     one request may take `sync.request_timeout_seconds` + `sync.timeout_per_record_seconds` per
                record asked for: a page of 500 gets longer than a page of 5, a slow small page still times out
    deadline    a step stops reading thread backlogs after `sync.step_deadline_seconds` and commits what it has

A pace lives in the worker process (a mailbox taken over by another worker starts at full size and finds its
pace within a timeout or two). The adapters get it with the mailbox (`MailboxRef.page_size`, ``timeout``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from connector.errors import TimedOut
from connector.sync.settings import SyncSettings


@dataclass(frozen=True)
class Pace:
    page_size: int
    timeout: float  # seconds for one request of page_size records


class Pacer:
    def __init__(self, settings: SyncSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()  # a worker's threads share it
        self._sizes: dict[int, int] = {}  # mailbox id → its page size, when shrunk
        self._good: dict[int, int] = {}  # mailbox id → good steps in a row since the last change

    def pace(self, mailbox_id: int) -> Pace:
        with self._lock:
            size = self._sizes.get(mailbox_id, self.settings.page_size)
        return Pace(size, self.timeout_for(size))

    def timeout_for(self, records: int) -> float:
        return self.settings.request_timeout_seconds + self.settings.timeout_per_record_seconds * records

    def failed(self, mailbox_id: int, error: BaseException) -> None:
        """A timed-out step halves the mailbox's pages; any other failure leaves them as they are."""
        if not isinstance(error, TimedOut):
            return
        with self._lock:
            size = self._sizes.get(mailbox_id, self.settings.page_size)
            self._sizes[mailbox_id] = max(self.settings.min_page_size, size // 2)
            self._good[mailbox_id] = 0

    def succeeded(self, mailbox_id: int) -> None:
        """After `grow_after` good steps a shrunk page size doubles (never past `sync.page_size`)."""
        with self._lock:
            if mailbox_id not in self._sizes:
                return
            self._good[mailbox_id] = self._good.get(mailbox_id, 0) + 1
            if self._good[mailbox_id] < self.settings.grow_after:
                return
            grown = self._sizes[mailbox_id] * 2
            self._good[mailbox_id] = 0
            if grown >= self.settings.page_size:
                del self._sizes[mailbox_id]
            else:
                self._sizes[mailbox_id] = grown
