"""`GraphProvider`: Microsoft Graph behind the `Provider` protocol the sync engine drives.

Reads Sent Items and Inbox by per-folder delta (the cursor keeps both links), decides on
header-only metadata (`$select`, no bodies), and downloads a message's MIME only when the core
will log it. Every call carries `Prefer: IdType="ImmutableId"` so ids survive folder moves.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder

from connector.config import Settings
from connector.envelope import Direction, Envelope
from connector.errors import PermanentError, TokenExpired
from providers.base import ApiUsage, ChangePage, MailboxRef, Subscription
from providers.graph import mapping, subscriptions
from providers.graph.auth import GraphAuth
from providers.graph.client import IMMUTABLE_IDS, LoopThread, Usage, call, make_client
from providers.graph.notifications import GraphNotificationParser

FOLDERS = ("sentitems", "inbox")  # Bcc is only visible on the sender's Sent Items copy
PAGE_SIZE = 50
RECENT_LIMIT = 5_000  # a resync reads at most this many recent messages
_token: contextvars.ContextVar[str] = contextvars.ContextVar("graph_token", default="")


def _config(query: Any = None, page_size: int = PAGE_SIZE) -> RequestConfiguration:
    config: RequestConfiguration = RequestConfiguration(query_parameters=query)
    config.headers.add("Prefer", IMMUTABLE_IDS)
    config.headers.add("Prefer", f"odata.maxpagesize={page_size}")
    return config


def _odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class GraphProvider:
    name = "graph"

    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.clock = clock
        self.auth = GraphAuth(settings.graph)
        self.usage_counter = Usage()
        self.loop = LoopThread()
        host = settings.graph.graph_url.split("//", 1)[-1].split("/", 1)[0].split(":")[0]
        verify: str | bool = settings.graph.ca_bundle or True
        self.client: GraphServiceClient = self.loop.run(self._make(host, verify))

    async def _make(self, host: str, verify: str | bool) -> GraphServiceClient:
        return make_client(self.settings.graph.graph_url, host, _token.get, self.usage_counter, verify)

    def _run(self, mailbox: MailboxRef, coroutine_factory: Callable[[], Any]) -> Any:
        """Run SDK calls with the mailbox's token; on a 401 refresh once (a revoked grant shows there)."""
        try:
            return self._with_token(self.auth.access_token(mailbox), coroutine_factory)
        except TokenExpired:
            return self._with_token(self.auth.access_token(mailbox, force_refresh=True), coroutine_factory)

    def _with_token(self, token: str, coroutine_factory: Callable[[], Any]) -> Any:
        async def with_token() -> Any:
            _token.set(token)
            return await coroutine_factory()

        return self.loop.run(with_token())

    def _user(self, mailbox: MailboxRef) -> Any:
        return self.client.users.by_user_id(mailbox.provider_user_id or mailbox.address)

    # ------------------------------------------------------------------------------------ cursors
    def start_cursor(self, mailbox: MailboxRef) -> str:
        """Delta links at 'now': an initial round limited to mail received from now on, walked to its end.

        The round's `$select` is encoded into every later link, so it asks for the full metadata.
        """
        since = (self.clock() - timedelta(minutes=5)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        async def walk() -> str:
            links = {}
            for folder in FOLDERS:
                builder = self._user(mailbox).mail_folders.by_mail_folder_id(folder).messages.delta
                query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
                    select=mapping.SELECT, filter=f"receivedDateTime ge {since}")
                page = await call(builder.get(_config(query, page_size=500)), "delta")
                while page is not None and page.odata_next_link:
                    page = await call(builder.with_url(page.odata_next_link).get(_config(page_size=500)), "delta")
                if page is None or not page.odata_delta_link:
                    raise PermanentError(f"no delta link for {folder} of {mailbox.address}")
                links[folder] = page.odata_delta_link
            return json.dumps(links)

        return str(self._run(mailbox, walk))

    def read_changes(self, mailbox: MailboxRef, cursor: str) -> ChangePage:
        links: dict[str, str] = json.loads(cursor)

        async def one_page() -> ChangePage:
            envelopes: list[Envelope] = []
            removed: list[str] = []
            more = False
            fresh = dict(links)
            for folder in FOLDERS:
                builder = self._user(mailbox).mail_folders.by_mail_folder_id(folder).messages.delta
                page = await call(builder.with_url(links[folder]).get(_config()), "delta")
                for message in (page.value or []) if page else []:
                    if mapping.is_removed(message):
                        removed.append(message.id or "")
                        continue
                    envelope = mapping.header_envelope(message, mailbox.address)
                    if envelope is not None:
                        envelopes.append(envelope.with_changes(direction=_direction(folder, envelope)))
                if page is not None and page.odata_next_link:
                    fresh[folder], more = page.odata_next_link, True
                elif page is not None and page.odata_delta_link:
                    fresh[folder] = page.odata_delta_link
            return ChangePage(envelopes, json.dumps(fresh), more=more, removed=removed)

        return self._run(mailbox, one_page)

    def recent(self, mailbox: MailboxRef, since: datetime) -> ChangePage:
        """Bounded resync: fresh delta links first (nothing slips between), then recent mail."""
        cursor = self.start_cursor(mailbox)
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
            select=mapping.SELECT, filter=f"receivedDateTime ge {since.isoformat().replace('+00:00', 'Z')}",
            top=100)
        newest_first = self._list(mailbox, query, RECENT_LIMIT)
        return ChangePage(newest_first[::-1], cursor)  # oldest first: threads open before their replies

    def thread(self, mailbox: MailboxRef, envelope: Envelope) -> Sequence[Envelope]:
        conversation = mapping.conversation_of(envelope)
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
            select=mapping.SELECT, filter=f"conversationId eq {_odata_string(conversation)}", top=100)
        return [e for e in self._list(mailbox, query, 1_000) if e.provider_message_id != envelope.provider_message_id]

    def find(self, mailbox: MailboxRef, internet_message_id: str) -> Envelope | None:
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
            select=mapping.SELECT, filter=f"internetMessageId eq {_odata_string(internet_message_id)}", top=5)
        found = self._list(mailbox, query, 5)
        return found[0] if found else None

    def _list(self, mailbox: MailboxRef, query: Any, limit: int) -> list[Envelope]:
        async def pages() -> list[Envelope]:
            builder = self._user(mailbox).messages
            page = await call(builder.get(_config(query, page_size=100)), "messages")
            found: list[Envelope] = []
            while page is not None:
                for message in page.value or []:
                    envelope = mapping.header_envelope(message, mailbox.address)
                    if envelope is not None:
                        found.append(envelope)
                if not page.odata_next_link or len(found) >= limit:
                    break
                page = await call(builder.with_url(page.odata_next_link).get(_config(page_size=100)), "messages")
            return found[:limit]

        return self._run(mailbox, pages)

    # ------------------------------------------------------------------------------------ content
    def fetch_full(self, mailbox: MailboxRef, envelopes: Sequence[Envelope]) -> Sequence[Envelope]:
        """Each message's MIME (`/$value`), at most `max_calls_per_mailbox` at a time."""
        async def fetch_all() -> list[Envelope]:
            limit = asyncio.Semaphore(self.settings.sync.max_calls_per_mailbox)

            async def one(header: Envelope) -> Envelope:
                async with limit:
                    item = self._user(mailbox).messages.by_message_id(header.provider_message_id)
                    raw = await call(item.content.get(_config()), "messages/$value")
                return mapping.complete_envelope(raw or b"", header)

            return list(await asyncio.gather(*(one(e) for e in envelopes)))

        return self._run(mailbox, fetch_all) if envelopes else []

    # ------------------------------------------------------------------------------------ subscriptions
    def subscribe(self, mailbox: MailboxRef, notification_url: str, now: datetime, client_state: str) -> Subscription:
        return self._run(mailbox, lambda: subscriptions.create(self.client, mailbox.provider_user_id or mailbox.address,
                                                               notification_url, now, client_state))

    def renew(self, mailbox: MailboxRef, subscription: Subscription, now: datetime) -> Subscription:
        return self._run(mailbox, lambda: subscriptions.renew(self.client, subscription, now))

    def unsubscribe(self, mailbox: MailboxRef, subscription: Subscription) -> None:
        self._run(mailbox, lambda: subscriptions.delete(self.client, subscription))

    # ------------------------------------------------------------------------------------ bookkeeping
    def usage(self) -> ApiUsage:
        counter = self.usage_counter
        return ApiUsage(http_requests=counter.requests, bytes_downloaded=counter.bytes,
                        by_endpoint=dict(counter.by_endpoint))

    def take_credential_updates(self) -> dict[int, str]:
        return self.auth.take_updates()


def _direction(folder: str, envelope: Envelope) -> Direction | None:
    return Direction.SENT if folder == "sentitems" else envelope.direction


def build(settings: Settings, clock: Callable[[], datetime]) -> tuple[GraphProvider, GraphNotificationParser]:
    """The composition root's entry point (connector/assembly.py)."""
    return GraphProvider(settings, clock), GraphNotificationParser()


def consent_flow(settings: Settings) -> GraphAuth:
    """Per-user consent for the console (connect / reconnect Outlook)."""
    return GraphAuth(settings.graph)
