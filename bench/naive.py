"""The naive strategy the adapters are compared with: fetch every changed message in full, one call each.

The wrappers read the same change feeds from the same emulator endpoints (Graph delta per folder,
Gmail history.list), then download every message they see (`/$value`, `messages.get(format=raw)`),
one HTTP request per message, and hand the engine complete envelopes. The engine's own decisions
stay as they are; `fetch_full` then costs nothing for what was already downloaded.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from connector.errors import MimeError
from connector.mail import mime
from connector.mail.envelope import Envelope, Source
from connector.ports import ApiUsage, ChangePage, MailboxRef, Provider, Subscription
from providers.gmail.adapter import GmailProvider, _cursor, _read_cursor
from providers.gmail.mapping import direction, is_mail, thread_key


class _Naive:
    """Delegates everything; keeps what it already downloaded in full for `fetch_full`."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name = inner.name
        self.push_settle_seconds = inner.push_settle_seconds
        self._full: dict[tuple[int, str], Envelope] = {}

    def _one_by_one(self, mailbox: MailboxRef, envelopes: Sequence[Envelope]) -> list[Envelope]:
        full: list[Envelope] = []
        for envelope in envelopes:
            full += list(self.inner.fetch_full(mailbox, [envelope]))
        return full

    def fetch_full(self, mailbox: MailboxRef, envelopes: Sequence[Envelope]) -> Sequence[Envelope]:
        done = [self._full.pop((mailbox.mailbox_id, e.provider_message_id), None) for e in envelopes]
        missing = [e for e, d in zip(envelopes, done, strict=True) if d is None or not d.complete]
        return [d for d in done if d is not None and d.complete] + self._one_by_one(mailbox, missing)

    def _keep(self, mailbox: MailboxRef, envelopes: Sequence[Envelope]) -> None:
        if len(self._full) > 50_000:  # a bound: the engine normally takes them back within the step
            self._full.clear()
        for envelope in envelopes:
            self._full[(mailbox.mailbox_id, envelope.provider_message_id)] = envelope

    # the rest of the Provider protocol, unchanged
    def start_cursor(self, mailbox: MailboxRef) -> str:
        return self.inner.start_cursor(mailbox)

    def recent(self, mailbox: MailboxRef, since: datetime) -> ChangePage:
        return self.inner.recent(mailbox, since)

    def thread(self, mailbox: MailboxRef, envelope: Envelope) -> Sequence[Envelope]:
        return self.inner.thread(mailbox, envelope)

    def find(self, mailbox: MailboxRef, internet_message_id: str) -> Envelope | None:
        return self.inner.find(mailbox, internet_message_id)

    def subscribe(self, mailbox: MailboxRef, notification_url: str, now: datetime, client_state: str) -> Subscription:
        return self.inner.subscribe(mailbox, notification_url, now, client_state)

    def renew(self, mailbox: MailboxRef, subscription: Subscription, now: datetime) -> Subscription:
        return self.inner.renew(mailbox, subscription, now)

    def unsubscribe(self, mailbox: MailboxRef, subscription: Subscription) -> None:
        self.inner.unsubscribe(mailbox, subscription)

    def usage(self) -> ApiUsage:
        return self.inner.usage()

    def take_credential_updates(self) -> dict[int, str]:
        return self.inner.take_credential_updates()


class NaiveGraph(_Naive):
    """Delta pages as the adapter reads them, then `GET …/messages/{id}/$value` for every message."""

    def read_changes(self, mailbox: MailboxRef, cursor: str) -> ChangePage:
        page = self.inner.read_changes(mailbox, cursor)
        full = self._one_by_one(mailbox, page.envelopes)
        self._keep(mailbox, full)
        return ChangePage(full, page.cursor, more=page.more, removed=page.removed)


class NaiveGmail(_Naive):
    """history.list, then `messages.get(format=raw)` for every added message, one call each."""

    def __init__(self, inner: Provider) -> None:
        super().__init__(inner)
        assert isinstance(inner, GmailProvider)
        self.gmail = inner

    def read_changes(self, mailbox: MailboxRef, cursor: str) -> ChangePage:
        start, page_token = _read_cursor(cursor)
        api = self.gmail.client.open(mailbox)
        params: dict[str, Any] = {"userId": "me", "startHistoryId": start, "historyTypes": ["messageAdded"],
                                  "maxResults": self.gmail.page_size}
        if page_token:
            params["pageToken"] = page_token
        page = api.execute(api.users.history().list(**params))
        added = [entry.get("message") or {} for record in page.get("history") or ()
                 for entry in record.get("messagesAdded") or ()]
        envelopes: list[Envelope] = []
        for message_id in dict.fromkeys(m["id"] for m in added if m.get("id") and is_mail(m.get("labelIds") or ())):
            found = api.execute(api.users.messages().get(userId="me", id=message_id, format="raw"))
            envelope = _envelope(found, mailbox.address)
            if envelope is not None:
                envelopes.append(envelope)
        self._keep(mailbox, envelopes)
        next_token = page.get("nextPageToken")
        if next_token:
            return ChangePage(envelopes, _cursor(start, next_token), more=True)
        return ChangePage(envelopes, _cursor(page.get("historyId") or start))


def _envelope(message: dict[str, Any], address: str) -> Envelope | None:
    data = str(message.get("raw") or "")
    labels = list(message.get("labelIds") or ())
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        return mime.parse(raw, source=Source.GMAIL, mailbox=address.lower(), provider_message_id=message["id"],
                          thread_key=thread_key(address, str(message.get("threadId") or message["id"])),
                          direction=direction(labels))
    except (MimeError, ValueError):
        return None


def wrappers() -> dict[str, type[_Naive]]:
    return {"graph": NaiveGraph, "gmail": NaiveGmail}
