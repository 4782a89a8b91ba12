"""Mailboxes, messages, threads, labels and history records — the emulator's thread-safe store.

Every change (a message added, labels added or removed, a message deleted) appends one history
record and raises the mailbox's historyId by a small random step: Gmail's ids grow but are not
consecutive, and adapters must not assume they are. Listeners (the push notifier) hear about each
record after the store lock is released.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses
from typing import Any

from emulators.clock import Clock

from . import mime

SYSTEM_LABELS: dict[str, dict[str, str]] = {
    "CHAT": {"messageListVisibility": "hide", "labelListVisibility": "labelHide"},
    "SENT": {},
    "INBOX": {},
    "IMPORTANT": {"messageListVisibility": "hide", "labelListVisibility": "labelHide"},
    "TRASH": {"messageListVisibility": "hide", "labelListVisibility": "labelHide"},
    "DRAFT": {},
    "SPAM": {"messageListVisibility": "hide", "labelListVisibility": "labelHide"},
    "CATEGORY_FORUMS": {},
    "CATEGORY_UPDATES": {},
    "CATEGORY_PERSONAL": {},
    "CATEGORY_PROMOTIONS": {},
    "CATEGORY_SOCIAL": {},
    "STARRED": {},
    "UNREAD": {},
}
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
INBOX_ARRIVAL = ("INBOX", "UNREAD")


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    label_ids: list[str]
    raw: bytes
    internal_date_ms: int
    history_id: int
    rfc822_id: str
    subject: str
    deleted: bool = False
    _parsed: Message | None = field(default=None, repr=False)

    @property
    def parsed(self) -> Message:
        if self._parsed is None:
            self._parsed = mime.parse(self.raw)
        return self._parsed


@dataclass(frozen=True)
class HistoryRecord:
    id: int
    at: float
    kind: str  # one of HISTORY_TYPES
    message_id: str
    thread_id: str
    labels_after: tuple[str, ...]  # the message's labels once the change applied (before, if deleted)
    changed: tuple[str, ...] = ()  # label ids added/removed


@dataclass
class Mailbox:
    address: str
    display_name: str
    domain: str
    sub: str  # stable numeric Google account id
    history_id: int
    history_floor: int = 0  # a startHistoryId below this answers 404
    history: list[HistoryRecord] = field(default_factory=list)
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    threads: dict[str, list[str]] = field(default_factory=dict)
    by_rfc822: dict[str, list[str]] = field(default_factory=dict)
    user_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    drafts: dict[str, str] = field(default_factory=dict)  # draft id → the id of the message it holds now
    filters: dict[str, dict[str, Any]] = field(default_factory=dict)  # users.settings.filters, by id
    send_as: dict[str, dict[str, Any]] = field(default_factory=dict)  # custom "from" addresses, by address

    def live(self) -> list[StoredMessage]:
        return [m for m in self.messages.values() if not m.deleted]

    def thread_messages(self, thread_id: str) -> list[StoredMessage]:
        found = [self.messages[i] for i in self.threads.get(thread_id, []) if not self.messages[i].deleted]
        return sorted(found, key=lambda m: (m.internal_date_ms, m.id))

    def label_exists(self, label_id: str) -> bool:
        return label_id in SYSTEM_LABELS or label_id in self.user_labels


HistoryListener = Callable[[Mailbox, HistoryRecord], None]
# The labels a received message gets on arrival (spam classification, the user's filters); see filters.py.
ArrivalLabels = Callable[[Mailbox, StoredMessage], list[str]]


def account_id(address: str) -> str:
    return str(int(hashlib.sha256(address.encode()).hexdigest(), 16))[:21]


class MailStore:
    def __init__(self, clock: Clock, seed: int = 0, history_retention: float = 7 * 86400) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        self._rng = random.Random(seed)
        self._next_id = 0x18F3A2B400000000 + self._rng.randrange(1 << 24)
        self._mailboxes: dict[str, Mailbox] = {}
        self._listeners: list[HistoryListener] = []
        self._pending_threads: dict[tuple[str, str], str] = {}
        self.history_retention = history_retention
        self.arrival_labels: ArrivalLabels = lambda mailbox, msg: list(INBOX_ARRIVAL)

    # -- mailboxes ------------------------------------------------------------------------------
    def add_mailbox(self, address: str, display_name: str = "", domain: str = "") -> Mailbox:
        address = address.lower()
        with self.lock:
            if address in self._mailboxes:
                return self._mailboxes[address]
            mailbox = Mailbox(
                address=address,
                display_name=display_name,
                domain=(domain or address.rpartition("@")[2]).lower(),
                sub=account_id(address),
                history_id=1000 + self._rng.randrange(9000),
            )
            self._mailboxes[address] = mailbox
            return mailbox

    def mailbox(self, address: str) -> Mailbox | None:
        return self._mailboxes.get(address.lower())

    def mailboxes(self) -> list[Mailbox]:
        return list(self._mailboxes.values())

    def listen(self, listener: HistoryListener) -> None:
        self._listeners.append(listener)

    # -- changes --------------------------------------------------------------------------------
    def _new_message_id(self) -> str:
        self._next_id += 1 + self._rng.randrange(0x3FF)
        return format(self._next_id, "016x")

    def _record(
        self, mailbox: Mailbox, kind: str, msg: StoredMessage, changed: Iterable[str] = ()
    ) -> HistoryRecord:
        mailbox.history_id += 1 + self._rng.randrange(5)  # ids grow with gaps, like Gmail's
        record = HistoryRecord(
            id=mailbox.history_id,
            at=self._clock.now(),
            kind=kind,
            message_id=msg.id,
            thread_id=msg.thread_id,
            labels_after=tuple(msg.label_ids),
            changed=tuple(changed),
        )
        mailbox.history.append(record)
        msg.history_id = record.id
        return record

    def _emit(self, mailbox: Mailbox, records: list[HistoryRecord]) -> None:
        for record in records:
            for listener in list(self._listeners):
                listener(mailbox, record)

    def expect_thread(self, address: str, rfc822_id: str, thread_id: str) -> None:
        """messages.send asked for ``thread_id``: apply it to the sender's copy when it arrives."""
        with self.lock:
            self._pending_threads[(address.lower(), rfc822_id)] = thread_id

    def thread_for(self, mailbox: Mailbox, msg: Message, subject: str) -> str | None:
        """Gmail's threading: a referenced message in this mailbox *and* a matching subject."""
        refs = mime.message_ids(mime.first_header(msg, "References"))
        refs += mime.message_ids(mime.first_header(msg, "In-Reply-To"))
        wanted = mime.normalize_subject(subject)
        for ref in reversed(refs):
            for known in mailbox.by_rfc822.get(ref, []):
                other = mailbox.messages[known]
                if mime.normalize_subject(other.subject) == wanted:
                    return other.thread_id
        return None

    def deliver(self, address: str, folder: str, raw: bytes, rfc822_id: str, at: float) -> StoredMessage | None:
        """Store one copy handed over by the post office (folder "sent" or "inbox")."""
        with self.lock:
            mailbox = self.mailbox(address)
            if mailbox is None:
                return None
            parsed = mime.parse(raw)
            subject = mime.first_header(parsed, "Subject")
            records: list[HistoryRecord] = []
            if folder == "inbox":
                # Mail to oneself: Gmail keeps one message carrying SENT, INBOX and UNREAD.
                for known in mailbox.by_rfc822.get(rfc822_id, []):
                    own = mailbox.messages[known]
                    if not own.deleted and "SENT" in own.label_ids and "INBOX" not in own.label_ids:
                        own.label_ids += ["INBOX", "UNREAD"]
                        records.append(self._record(mailbox, "labelAdded", own, ["INBOX", "UNREAD"]))
                        break
                if records:
                    result = own
                else:
                    result = self._add(mailbox, parsed, raw, rfc822_id, subject, at, list(INBOX_ARRIVAL), None)
                    result.label_ids = self.arrival_labels(mailbox, result)  # filters act before anyone sees it
                    records.append(self._record(mailbox, "messageAdded", result))
            else:
                hint = self._pending_threads.pop((mailbox.address, rfc822_id), None)
                result = self._add(mailbox, parsed, raw, rfc822_id, subject, at, ["SENT"], hint)
                records.append(self._record(mailbox, "messageAdded", result))
            self._prune(mailbox)
        self._emit(mailbox, records)
        return result

    def _add(
        self,
        mailbox: Mailbox,
        parsed: Message,
        raw: bytes,
        rfc822_id: str,
        subject: str,
        at: float,
        labels: list[str],
        thread_hint: str | None,
    ) -> StoredMessage:
        message_id = self._new_message_id()
        thread_id = thread_hint or self.thread_for(mailbox, parsed, subject) or message_id
        msg = StoredMessage(
            id=message_id,
            thread_id=thread_id,
            label_ids=list(labels),
            raw=raw,
            internal_date_ms=int(at * 1000),
            history_id=mailbox.history_id,
            rfc822_id=rfc822_id,
            subject=subject,
            _parsed=parsed,
        )
        mailbox.messages[message_id] = msg
        mailbox.threads.setdefault(thread_id, []).append(message_id)
        mailbox.by_rfc822.setdefault(rfc822_id, []).append(message_id)
        return msg

    def add_draft(self, mailbox: Mailbox, raw: bytes, thread_hint: str | None, at: float) -> StoredMessage:
        """A message carrying only DRAFT, in its thread (messageAdded, as for any message)."""
        with self.lock:
            parsed = mime.parse(raw)
            rfc822_id = mime.first_header(parsed, "Message-ID").strip()
            msg = self._add(mailbox, parsed, raw, rfc822_id, mime.first_header(parsed, "Subject"), at, ["DRAFT"],
                            thread_hint)
            record = self._record(mailbox, "messageAdded", msg)
        self._emit(mailbox, [record])
        return msg

    def modify(self, address: str, message_id: str, add: list[str], remove: list[str]) -> StoredMessage | None:
        with self.lock:
            mailbox = self.mailbox(address)
            msg = mailbox.messages.get(message_id) if mailbox else None
            if mailbox is None or msg is None or msg.deleted:
                return None
            records = []
            added = [label for label in dict.fromkeys(add) if label not in msg.label_ids]
            if added:
                msg.label_ids += added
                records.append(self._record(mailbox, "labelAdded", msg, added))
            removed = [label for label in dict.fromkeys(remove) if label in msg.label_ids]
            if removed:
                msg.label_ids = [label for label in msg.label_ids if label not in removed]
                records.append(self._record(mailbox, "labelRemoved", msg, removed))
        self._emit(mailbox, records)
        return msg

    def delete(self, address: str, message_id: str) -> bool:
        with self.lock:
            mailbox = self.mailbox(address)
            msg = mailbox.messages.get(message_id) if mailbox else None
            if mailbox is None or msg is None or msg.deleted:
                return False
            msg.deleted = True
            record = self._record(mailbox, "messageDeleted", msg)
        self._emit(mailbox, [record])
        return True

    # -- history retention ----------------------------------------------------------------------
    def _prune(self, mailbox: Mailbox) -> None:
        cutoff = self._clock.now() - self.history_retention
        dropped = 0
        while dropped < len(mailbox.history) and mailbox.history[dropped].at < cutoff:
            dropped += 1
        if dropped:
            mailbox.history_floor = max(mailbox.history_floor, mailbox.history[dropped - 1].id)
            del mailbox.history[:dropped]

    def prune(self, address: str) -> None:
        with self.lock:
            mailbox = self.mailbox(address)
            if mailbox:
                self._prune(mailbox)

    def expire_history(self, address: str) -> int:
        """Invalidate every historyId handed out so far; return the new (valid) current id."""
        with self.lock:
            mailbox = self.mailbox(address)
            if mailbox is None:
                raise KeyError(address)
            mailbox.history_id += 1 + self._rng.randrange(5)
            mailbox.history_floor = mailbox.history_id
            mailbox.history.clear()
            return mailbox.history_id


def recipients(msg: Message) -> list[str]:
    values = [str(v) for name in ("To", "Cc", "Bcc") for v in msg.get_all(name, [])]
    return [addr for _, addr in getaddresses(values) if addr]
