"""The threads the last page of each mailbox opened, with the page's other messages in them.

A Gmail thread's id is the id of its first message, and every later message of the thread reaches the
history after it. A sync step reads its page, commits it, then serves the thread backlog
(`connector.sync.engine`), all under the mailbox's lease. So when the page of this very step held a
thread's first message, the thread's messages nobody has judged with the thread known are exactly this
page's other messages of that thread: there are no later ones yet, and none earlier. `GmailProvider.thread`
answers such a backfill from here, without `threads.get` (40 quota units and a request of its own).

Only the latest page of a mailbox counts (each read replaces it): a backfill served after another page was
read, or in another worker process, asks Gmail as before. Messages the step downloaded in full are dropped
(they are filed already); the others are answered with their headers, so the core judges them as it would a
`threads.get` answer (another copy, a refusal on headers such as mail among colleagues) and never downloads
what their headers refuse. Their headers are read in the batch that downloads the thread's first message
(`unread_mates`: it is wanted, so its thread is about to be filed): no request of their own, 20 units each
instead of 40 for the thread. Any still unread when the thread is asked for are read then, in one batch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from connector.mail.envelope import Envelope
from providers.gmail.mapping import thread_id_of

MAX_MAILBOXES = 10_000  # mailboxes whose last page is kept (only threads that page opened: usually a few)

_Page = dict[str, dict[str, Envelope]]  # thread id → message id → envelope


class OpenedThreads:
    def __init__(self, limit: int = MAX_MAILBOXES) -> None:
        self._lock = threading.Lock()
        self._limit = limit
        self._pages: OrderedDict[int, _Page] = OrderedDict()

    def page(self, mailbox_id: int, envelopes: Sequence[Envelope], added: Iterable[str] | None = None) -> None:
        """A new page was read: it replaces the last one. Threads it opened are kept with their messages.

        ``added``: the messages the page brought as new (history's messagesAdded); a first message that is
        back from Spam or Trash may have been filed long ago, its thread's replies judged in other pages.
        """
        new = None if added is None else set(added)
        by_thread: _Page = {}
        for envelope in envelopes:
            thread_id = thread_id_of(envelope)
            if thread_id is not None:
                by_thread.setdefault(thread_id, {})[envelope.provider_message_id] = envelope
        opened = {t: members for t, members in by_thread.items() if t in members and (new is None or t in new)}
        with self._lock:
            self._pages[mailbox_id] = opened
            self._pages.move_to_end(mailbox_id)
            while len(self._pages) > self._limit:
                self._pages.popitem(last=False)

    def headers_read(self, mailbox_id: int, envelopes: Iterable[Envelope]) -> None:
        with self._lock:
            page = self._pages.get(mailbox_id) or {}
            for envelope in envelopes:
                members = page.get(thread_id_of(envelope) or "")
                if members is not None and envelope.provider_message_id in members:
                    members[envelope.provider_message_id] = envelope

    def downloaded(self, mailbox_id: int, message_ids: Iterable[str]) -> None:
        with self._lock:
            page = self._pages.get(mailbox_id) or {}
            for message_id in message_ids:
                for members in page.values():
                    members.pop(message_id, None)

    def unread_mates(self, mailbox_id: int, openers: Iterable[Envelope]) -> list[str]:
        """The page's messages whose headers are not read, in the threads these messages opened."""
        with self._lock:
            page = self._pages.get(mailbox_id) or {}
            return [e.provider_message_id for opener in openers
                    for e in (page.get(opener.provider_message_id) or {}).values()
                    if e.ids_only and e.provider_message_id != opener.provider_message_id]

    def rest_of(self, mailbox_id: int, opener: Envelope) -> list[Envelope] | None:
        """The other messages of the thread ``opener`` opened in this mailbox's last page; None: ask Gmail."""
        thread_id = thread_id_of(opener)
        if thread_id is None or thread_id != opener.provider_message_id:
            return None  # not the thread's first message: earlier ones may be anywhere in the mailbox
        with self._lock:
            members = (self._pages.get(mailbox_id) or {}).get(thread_id)
            if members is None:
                return None
            return [e for message_id, e in members.items() if message_id != opener.provider_message_id]


class FoundThreads:
    """Threads `GmailProvider.find` read whole to find a copy by Message-ID, for the `thread` call that follows
    (`connector.sync.step.Reader`: find, then the copy's thread): taken once, a few kept."""

    def __init__(self, limit: int = 1_000) -> None:
        self._lock = threading.Lock()
        self._limit = limit
        self._threads: OrderedDict[tuple[int, str], tuple[str, list[Envelope]]] = OrderedDict()

    def put(self, mailbox_id: int, thread_id: str, copy_id: str, rest: list[Envelope]) -> None:
        with self._lock:
            self._threads[(mailbox_id, thread_id)] = (copy_id, rest)
            while len(self._threads) > self._limit:
                self._threads.popitem(last=False)

    def take(self, mailbox_id: int, thread_id: str, copy_id: str) -> list[Envelope] | None:
        with self._lock:
            found = self._threads.pop((mailbox_id, thread_id), None)
        return found[1] if found is not None and found[0] == copy_id else None
