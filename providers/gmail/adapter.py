"""`GmailProvider`: the Provider protocol over the Gmail API.

    start_cursor  users.getProfile → historyId
    read_changes  one page of users.history.list (messageAdded and labelRemoved, with threadId and
                  labels) → ids-only envelopes of mail: any message but drafts, chats, spam and trash
                  (filters may archive mail or label it), and messages a label change made mail
                  ("Not spam" removes SPAM); nothing else is read
    headers       one batch of messages.get(format=metadata) → header-only envelopes, for the
                  ids-only ones the routing core cannot judge without headers (sent mail in an
                  unknown thread: the owner's Bcc is visible only there)
    recent        getProfile first (the new cursor), then messages.list(q="after:<epoch>") + metadata
    thread        users.threads.get(format=metadata) — or nothing, when this step's page opened the thread
                  (pages.py: the page's other messages of the thread are then all of them)
    find          messages.list(q="rfc822msgid:…") + threads.get of the copy's thread (its headers, and the
                  thread() the backfill asks for next, answered from it)
    fetch_full    batches of messages.get(format=raw) → `connector.mail.mime.parse` (header-only or ids-only in)
    subscribe     users.watch (subscriptions.py); the push comes back through push.py

The cursor is JSON ``{"history_id": …, "page_token": …}``: while a history listing has more pages
it keeps the start id and the page token, so the next call continues the same listing; after the
last page it becomes the listing's ``historyId``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from connector.config import GmailSettings, Settings
from connector.errors import CursorExpired, PermanentError
from connector.mail.envelope import Envelope
from connector.ports import ApiUsage, ChangePage, MailboxRef, Subscription
from providers.gmail import subscriptions
from providers.gmail.auth import Consent
from providers.gmail.client import GmailClient, MailboxApi
from providers.gmail.mapping import (
    METADATA_HEADERS,
    became_mail,
    full_envelope,
    header_envelope,
    ids_only_envelope,
    is_mail,
    thread_id_of,
)
from providers.gmail.pages import FoundThreads, OpenedThreads
from providers.gmail.push import PushParser, require_audience
from providers.gmail.resync import ResyncReads
from providers.gmail.signin import GoogleSignIn

log = logging.getLogger("bcc_capture.gmail")
Clock = Callable[[], datetime]

HISTORY_TYPES = ["messageAdded", "labelRemoved"]
HISTORY_FIELDS = ("history(messagesAdded(message(id,threadId,labelIds)),"
                  "labelsRemoved(message(id,threadId,labelIds),labelIds)),nextPageToken,historyId")
MESSAGE_FIELDS = "id,threadId,labelIds,internalDate,payload/headers"
RAW_BATCH = 10  # raw messages can be large; a batch answer is held in memory whole
HEADER_READ = "h:"  # batch request ids of header reads riding along with raw downloads


def _cursor(history_id: str, page_token: str | None = None) -> str:
    return json.dumps({"history_id": str(history_id), **({"page_token": page_token} if page_token else {})})


def _read_cursor(cursor: str) -> tuple[str, str | None]:
    try:
        data = json.loads(cursor)
        if isinstance(data, int):  # a bare history id
            return str(data), None
        history_id = str(data["history_id"])
        if not history_id.isdigit():
            raise ValueError(history_id)
        return history_id, data.get("page_token") or None
    except (ValueError, KeyError, TypeError) as exc:  # unreadable: a resync is the way back
        raise CursorExpired(f"unreadable Gmail cursor {cursor!r}") from exc


def _mail_in(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The messages of a history page that are (now) mail, by id: added as mail, or made mail by a label
    change — mail "rescued" from Spam arrives as labelsRemoved/labelsAdded on a message added earlier."""
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        for entry in record.get("messagesAdded") or ():
            message = entry.get("message") or {}
            if message.get("id") and is_mail(message.get("labelIds") or ()):
                found.setdefault(message["id"], message)
        for entry in record.get("labelsRemoved") or ():
            message = entry.get("message") or {}
            if message.get("id") and became_mail(entry):
                found.setdefault(message["id"], message)
    return found


def _added(records: Sequence[dict[str, Any]]) -> set[str]:
    return {str((entry.get("message") or {}).get("id")) for record in records
            for entry in record.get("messagesAdded") or ()}


def _raw_bytes(message: dict[str, Any]) -> bytes:
    data = str(message.get("raw") or "")
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):  # empty bytes: full_envelope keeps what the headers said
        return b""


class GmailProvider:
    name = "gmail"
    # Gmail sends at most one push a second per user and drops the rest, not coalesced:
    # https://developers.google.com/workspace/gmail/api/guides/push ("Notification rate limits").
    push_settle_seconds = 1.5

    def __init__(self, settings: GmailSettings, clock: Clock = lambda: datetime.now(UTC), *,
                 page_size: int = 50, resync_limit: int = 1000) -> None:
        self.settings = settings
        self.client = GmailClient(settings, clock)
        self.page_size = page_size  # history records per page: ≤ 50 keeps their metadata in one batch
        self.resync_limit = resync_limit  # messages a resync reads at most (the newest ones)
        self.opened = OpenedThreads()  # the threads each mailbox's last page opened: thread() without threads.get
        self.found_threads = FoundThreads()  # threads find() read whole, for the thread() call that follows it
        self.resync_reads = ResyncReads()  # what a resync stopped by the quota read: the next attempt goes on

    # ----------------------------------------------------------------------------- reading
    def start_cursor(self, mailbox: MailboxRef) -> str:
        api = self.client.open(mailbox)
        return _cursor(self._history_id(api))

    def read_changes(self, mailbox: MailboxRef, cursor: str) -> ChangePage:
        start, page_token = _read_cursor(cursor)
        api = self.client.open(mailbox)
        params: dict[str, Any] = {"userId": "me", "startHistoryId": start, "historyTypes": HISTORY_TYPES,
                                  "maxResults": mailbox.page_size or self.page_size, "fields": HISTORY_FIELDS}
        if page_token:
            params["pageToken"] = page_token
        page = api.execute(api.users.history().list(**params))
        # No header read here (labels as history saw them): the routing core says which ones need it.
        envelopes = [ids_only_envelope(m, mailbox.address) for m in _mail_in(page.get("history") or ()).values()]
        self.opened.page(mailbox.mailbox_id, envelopes, added=_added(page.get("history") or ()))
        next_token = page.get("nextPageToken")
        if next_token:
            return ChangePage(envelopes, _cursor(start, next_token), more=True)
        return ChangePage(envelopes, _cursor(page.get("historyId") or start))

    def recent(self, mailbox: MailboxRef, since: datetime) -> ChangePage:
        api = self.client.open(mailbox)
        history_id = self._history_id(api)  # first: whatever arrives while we list is read next time
        ids: list[str] = []
        page_token: str | None = None
        while len(ids) < self.resync_limit:
            params: dict[str, Any] = {"userId": "me", "q": f"after:{int(since.timestamp())}",
                                      "maxResults": min(mailbox.page_size or 500, self.resync_limit - len(ids)),
                                      "fields": "messages(id),nextPageToken"}
            if page_token:
                params["pageToken"] = page_token
            page = api.execute(api.users.messages().list(**params))
            ids += [m["id"] for m in page.get("messages") or ()]
            page_token = page.get("nextPageToken")
            if not page_token:
                break
        if page_token:
            log.warning("gmail resync read only the newest %d messages", len(ids),
                        extra={"mailbox_id": mailbox.mailbox_id})
        ids.reverse()  # newest first → oldest first: a thread opens before its replies are routed
        envelopes = self._headers(api, mailbox, ids, check_labels=True, read=self.resync_reads.of(mailbox.mailbox_id))
        self.resync_reads.done(mailbox.mailbox_id)
        self.opened.page(mailbox.mailbox_id, envelopes)
        return ChangePage(envelopes, _cursor(history_id))

    def thread(self, mailbox: MailboxRef, envelope: Envelope) -> Sequence[Envelope]:
        thread_id = thread_id_of(envelope)
        if thread_id is None:
            return []
        cached = self.found_threads.take(mailbox.mailbox_id, thread_id, envelope.provider_message_id)
        if cached is not None:  # find() just read this thread
            return cached
        known = self.opened.rest_of(mailbox.mailbox_id, envelope)
        if known is not None:  # the page held the whole thread: only the headers it did not read are asked for
            unread = [e.provider_message_id for e in known if e.ids_only]
            read = self._headers(self.client.open(mailbox), mailbox, unread, check_labels=True) if unread else []
            return [e for e in known if not e.ids_only] + read
        return [header_envelope(m, mailbox.address) for m in self._thread_messages(self.client.open(mailbox), thread_id)
                if m.get("id") != envelope.provider_message_id and is_mail(m.get("labelIds") or ())]

    def _thread_messages(self, api: MailboxApi, thread_id: str) -> list[dict[str, Any]]:
        try:
            found = api.execute(api.users.threads().get(
                userId="me", id=thread_id, format="metadata", metadataHeaders=METADATA_HEADERS,
                fields=f"messages({MESSAGE_FIELDS})"))
        except PermanentError as exc:
            if exc.status == 404:  # the thread was deleted meanwhile
                return []
            raise
        return list(found.get("messages") or ())

    def find(self, mailbox: MailboxRef, internet_message_id: str) -> Envelope | None:
        """This mailbox's copy of a message by Message-ID (Gmail's `rfc822msgid:` search)."""
        api = self.client.open(mailbox)
        page = api.execute(api.users.messages().list(userId="me", q=f"rfc822msgid:{internet_message_id.strip('<>')}",
                                                    maxResults=5, fields="messages(id,threadId)"))
        listed = {m["id"]: str(m.get("threadId") or m["id"]) for m in page.get("messages") or ()}
        if not listed:
            return None
        # The backfill reads the copy's thread next: one threads.get gives the copy's headers too (2 requests and
        # 45 units for find + thread, instead of 3 and 65 with a metadata read of the copy first).
        thread_id = next(iter(listed.values()))
        messages = [m for m in self._thread_messages(api, thread_id) if is_mail(m.get("labelIds") or ())]
        copies = [m for m in messages if m.get("id") in listed]
        if not copies:  # the first is a draft with the same Message-ID (or gone): read the others' headers
            found = self._headers(api, mailbox, [i for i, t in listed.items() if t != thread_id], check_labels=True)
            return found[0] if found else None
        copy = header_envelope(copies[0], mailbox.address)
        self.found_threads.put(mailbox.mailbox_id, thread_id, copy.provider_message_id,
                               [header_envelope(m, mailbox.address) for m in messages if m is not copies[0]])
        return copy

    def headers(self, mailbox: MailboxRef, envelopes: Sequence[Envelope]) -> Sequence[Envelope]:
        if not envelopes:
            return []
        api = self.client.open(mailbox)
        known = {e.provider_message_id: e for e in envelopes}
        found = self._headers(api, mailbox, list(known), check_labels=False)  # the labels history saw count
        self.opened.headers_read(mailbox.mailbox_id, found)
        return [e.with_changes(direction=known[e.provider_message_id].direction) for e in found]

    def fetch_full(self, mailbox: MailboxRef, envelopes: Sequence[Envelope]) -> Sequence[Envelope]:
        if not envelopes:
            return []
        api = self.client.open(mailbox)
        wanted = {e.provider_message_id: e for e in envelopes}
        requests = [(message_id, api.users.messages().get(userId="me", id=message_id, format="raw", fields="id,raw"))
                    for message_id in wanted]
        # A wanted message that opened its thread is about to file it: the page's other messages of that thread are
        # its backfill (pages.py), judged on their headers; read them in this batch, not in a request of their own.
        mates = self.opened.unread_mates(mailbox.mailbox_id, [e for e in envelopes if e.opens_thread])
        requests += [(HEADER_READ + message_id, self._metadata(api, message_id)) for message_id in mates]
        found = api.batch(requests, size=RAW_BATCH)
        self.opened.headers_read(mailbox.mailbox_id, [header_envelope(found[HEADER_READ + i], mailbox.address)
                                                      for i in mates if HEADER_READ + i in found])
        self.opened.downloaded(mailbox.mailbox_id, [i for i in found if i in wanted])
        return [full_envelope(_raw_bytes(found[message_id]), envelope)
                for message_id, envelope in wanted.items() if message_id in found]

    @staticmethod
    def _metadata(api: MailboxApi, message_id: str) -> Any:
        return api.users.messages().get(userId="me", id=message_id, format="metadata",
                                        metadataHeaders=METADATA_HEADERS, fields=MESSAGE_FIELDS)

    def _history_id(self, api: MailboxApi) -> str:
        return str(api.execute(api.users.getProfile(userId="me", fields="historyId"))["historyId"])

    def _headers(self, api: MailboxApi, mailbox: MailboxRef, ids: Sequence[str], *, check_labels: bool,
                 read: dict[str, dict[str, Any]] | None = None) -> list[Envelope]:
        """``read``: answers already had, where this call's are added as they come (kept if it is throttled)."""
        unique = list(dict.fromkeys(ids))
        found = {} if read is None else read
        requests = [(message_id, self._metadata(api, message_id)) for message_id in unique if message_id not in found]
        if requests:
            api.batch(requests, into=found)
        return [header_envelope(found[message_id], mailbox.address) for message_id in unique
                if message_id in found and (not check_labels or is_mail(found[message_id].get("labelIds") or ()))]

    # ----------------------------------------------------------------------------- push
    def subscribe(self, mailbox: MailboxRef, notification_url: str, now: datetime, client_state: str) -> Subscription:
        # The push endpoint and its authentication live on the Pub/Sub subscription, not on the
        # watch; Gmail has no client state (push.py verifies the OIDC token instead).
        return subscriptions.start(self.client.open(mailbox), self.settings, mailbox.address)

    def renew(self, mailbox: MailboxRef, subscription: Subscription, now: datetime) -> Subscription:
        return subscriptions.start(self.client.open(mailbox), self.settings, mailbox.address)

    def unsubscribe(self, mailbox: MailboxRef, subscription: Subscription) -> None:
        subscriptions.stop(self.client.open(mailbox))

    def usage(self) -> ApiUsage:
        return self.client.usage.snapshot()

    def take_credential_updates(self) -> dict[int, str]:
        return self.client.take_credential_updates()


def build(settings: Settings, clock: Clock) -> tuple[GmailProvider, PushParser]:
    """The composition root's entry point (connector/app/assembly.py)."""
    require_audience(settings)
    subscriptions.require_topic_project(settings.gmail)
    return GmailProvider(settings.gmail, clock), PushParser(settings.gmail)


def consent_flow(settings: Settings) -> Consent:
    """Per-user consent for the console (connect / reconnect Gmail)."""
    return Consent(settings.gmail)


def sign_in(settings: Settings) -> GoogleSignIn:
    """Sign-in to the console with this provider's identity platform."""
    return GoogleSignIn(settings.gmail)
