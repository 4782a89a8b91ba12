"""The in-memory mail world both provider emulators deliver through.

A message sent from any emulated mailbox (Graph's `sendMail`, Gmail's `messages.send`) is handed
to the post office as RFC 5322 bytes. The post office keeps the sender's copy *with* its Bcc
header (as Outlook's Sent Items and Gmail's SENT label do), strips Bcc from every delivered copy,
and delivers to each recipient mailbox it knows, whichever emulator owns it. Mail to addresses no
emulator owns (clients, the dropbox domain) is kept in `external` for tests to inspect.

Emulators register a listener per provider and store deliveries in their own shapes (Graph ids,
Gmail ids and history); the post office knows nothing about either API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from email.utils import formatdate, getaddresses, make_msgid


@dataclass(frozen=True)
class Delivery:
    mailbox: str  # lower-case address of the mailbox receiving this copy
    folder: str  # "sent" (the sender's own copy) or "inbox"
    raw: bytes  # the copy as stored: Bcc kept on "sent", removed on "inbox"
    internet_message_id: str
    at: float  # epoch seconds


Listener = Callable[[Delivery], None]
# How a mail system passes a message on: header lines as written (RFC 5322 allows 998 characters), never
# refolded into RFC 2047 words. The email package's SMTP policy would encode a long Message-ID token (an
# Exchange id in In-Reply-To makes a 101-character line) as =?utf-8?q?…?=, which no MTA does.
WIRE = policy.SMTP.clone(refold_source="none", max_line_length=998)


def _addresses(msg, *names: str) -> list[str]:
    values = [str(v) for name in names for v in msg.get_all(name, [])]
    return [addr.lower() for _, addr in getaddresses(values) if addr]


class PostOffice:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._owners: dict[str, str] = {}  # address -> provider name
        self._listeners: dict[str, list[Listener]] = {}
        self.external: list[Delivery] = []

    def register_mailbox(self, address: str, provider: str) -> None:
        with self._lock:
            self._owners[address.lower()] = provider

    def owner_of(self, address: str) -> str | None:
        return self._owners.get(address.lower())

    def mailboxes(self, provider: str | None = None) -> list[str]:
        return sorted(a for a, p in self._owners.items() if provider is None or p == provider)

    def listen(self, provider: str, listener: Listener) -> None:
        with self._lock:
            self._listeners.setdefault(provider, []).append(listener)

    def send(self, sender: str, raw: bytes) -> str:
        """Deliver ``raw`` from ``sender``; return its Message-ID (added when missing)."""
        msg = BytesParser(policy=WIRE).parsebytes(raw)
        if not msg["Message-ID"]:
            msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
        if not msg["Date"]:
            msg["Date"] = formatdate(self._clock(), localtime=False)
        imid = str(msg["Message-ID"]).strip()
        now = self._clock()
        recipients = dict.fromkeys(_addresses(msg, "To", "Cc", "Bcc"))
        self._deliver(Delivery(sender.lower(), "sent", msg.as_bytes(), imid, now))
        del msg["Bcc"]
        public = msg.as_bytes()
        for address in recipients:
            delivery = Delivery(address, "inbox", public, imid, now)
            if self.owner_of(address):
                self._deliver(delivery)
            else:
                with self._lock:
                    self.external.append(delivery)
        return imid

    def _deliver(self, delivery: Delivery) -> None:
        provider = self.owner_of(delivery.mailbox)
        if provider is None:
            return
        for listener in list(self._listeners.get(provider, [])):
            listener(delivery)
