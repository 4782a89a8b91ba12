"""Prototypes of adapter changes, measured by bench/api_economy.py against the same workloads.

* `BatchedGraph` — `fetch_full` sends the `GET …/messages/{id}/$value` calls as JSON `$batch`
  requests of up to 20 (Graph answers non-JSON bodies base64-encoded) instead of one HTTP request
  each. Everything else is the adapter's.
* `LeanGmail` — `read_changes` asks history.list for `threadId` too and spends nothing on mail that
  cannot matter: messages in a thread the database already knows (`gmail:<mailbox>:<threadId>`
  thread keys) are downloaded raw at once (they will be logged or recorded as a copy: the header
  read is skipped); messages labelled SENT in an unknown thread get the metadata read as today
  (the owner's Bcc is only visible there); INBOX-only messages in an unknown thread are not read at
  all — a dropbox address only counts when a user sent it (F17), and that user's SENT copy opens
  the thread and the backfill (F13) pulls this mailbox's copies.

They are measurement aids, not product code: no retries or error translation beyond the adapter's.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bench.naive import _envelope, _Naive
from connector.envelope import Envelope
from connector.errors import TransientError
from connector.models import ThreadKey
from providers.base import ChangePage, MailboxRef, Provider
from providers.gmail.adapter import MESSAGE_FIELDS, GmailProvider, _cursor, _read_cursor
from providers.gmail.client import MailboxApi
from providers.gmail.mapping import METADATA_HEADERS, is_mail, thread_key
from providers.graph import mapping
from providers.graph.adapter import GraphProvider
from providers.graph.client import IMMUTABLE_IDS

GRAPH_BATCH = 20


class BatchedGraph(_Naive):
    def __init__(self, inner: Provider) -> None:
        super().__init__(inner)
        assert isinstance(inner, GraphProvider)
        self.graph = inner
        self.http = httpx.Client(trust_env=False, timeout=60)

    def read_changes(self, mailbox: MailboxRef, cursor: str) -> ChangePage:
        return self.graph.read_changes(mailbox, cursor)

    def fetch_full(self, mailbox: MailboxRef, envelopes: Sequence[Envelope]) -> Sequence[Envelope]:
        token = self.graph.auth.access_token(mailbox)
        user = mailbox.provider_user_id or mailbox.address
        found: list[Envelope] = []
        for start in range(0, len(envelopes), GRAPH_BATCH):
            chunk = envelopes[start:start + GRAPH_BATCH]
            items = [{"id": str(n), "method": "GET", "url": f"/users/{user}/messages/{e.provider_message_id}/$value",
                      "headers": {"Prefer": IMMUTABLE_IDS}} for n, e in enumerate(chunk)]
            response = self.http.post(f"{self.graph.settings.graph.graph_url}/$batch", json={"requests": items},
                                      headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 200:
                raise TransientError(f"$batch answered {response.status_code}")
            for answer in response.json()["responses"]:
                if answer["status"] == 200:
                    header = chunk[int(answer["id"])]
                    found.append(mapping.complete_envelope(base64.b64decode(answer["body"]), header))
                elif answer["status"] != 404:
                    raise TransientError(f"$batch item answered {answer['status']}")
        return found


class LeanGmail(_Naive):
    def __init__(self, inner: Provider, engine: Engine) -> None:
        super().__init__(inner)
        assert isinstance(inner, GmailProvider)
        self.gmail = inner
        self.engine = engine
        self.skipped = 0

    def read_changes(self, mailbox: MailboxRef, cursor: str) -> ChangePage:
        start, page_token = _read_cursor(cursor)
        api = self.gmail.client.open(mailbox)
        params: dict[str, Any] = {
            "userId": "me", "startHistoryId": start, "historyTypes": ["messageAdded"],
            "maxResults": self.gmail.page_size,
            "fields": "history(messagesAdded(message(id,threadId,labelIds))),nextPageToken,historyId"}
        if page_token:
            params["pageToken"] = page_token
        page = api.execute(api.users.history().list(**params))
        added = {m["id"]: m for record in page.get("history") or () for entry in record.get("messagesAdded") or ()
                 if (m := entry.get("message") or {}).get("id") and is_mail(m.get("labelIds") or ())}
        keys = {i: thread_key(mailbox.address, str(m.get("threadId") or i)) for i, m in added.items()}
        known = self._known_threads(set(keys.values()))
        in_known = [i for i in added if keys[i] in known]
        sent_unknown = [i for i in added if keys[i] not in known and "SENT" in (added[i].get("labelIds") or ())]
        self.skipped += len(added) - len(in_known) - len(sent_unknown)
        full = self._raw(api, mailbox, in_known)
        self._keep(mailbox, full)
        headers = self._headers(api, mailbox, sent_unknown)
        envelopes = full + headers
        next_token = page.get("nextPageToken")
        if next_token:
            return ChangePage(envelopes, _cursor(start, next_token), more=True)
        return ChangePage(envelopes, _cursor(page.get("historyId") or start))

    def _known_threads(self, keys: set[str]) -> set[str]:
        if not keys:
            return set()
        with Session(self.engine) as session:
            return set(session.exec(select(ThreadKey.key).where(col(ThreadKey.key).in_(sorted(keys)))))

    def _raw(self, api: MailboxApi, mailbox: MailboxRef, ids: Sequence[str]) -> list[Envelope]:
        if not ids:
            return []
        requests = [(i, api.users.messages().get(userId="me", id=i, format="raw", fields="id,threadId,labelIds,raw"))
                    for i in ids]
        found = api.batch(requests, size=10)
        return [e for i in ids if i in found and (e := _envelope(found[i], mailbox.address)) is not None]

    def _headers(self, api: MailboxApi, mailbox: MailboxRef, ids: Sequence[str]) -> list[Envelope]:
        from providers.gmail.mapping import header_envelope

        if not ids:
            return []
        requests = [(i, api.users.messages().get(userId="me", id=i, format="metadata",
                                                 metadataHeaders=METADATA_HEADERS, fields=MESSAGE_FIELDS))
                    for i in ids]
        found = api.batch(requests)
        return [header_envelope(found[i], mailbox.address) for i in ids if i in found]
