"""`GraphProvider`: Microsoft Graph behind the `Provider` protocol the sync engine drives.

Reads Sent Items and Inbox by per-folder delta (the cursor keeps both links), decides on
header-only metadata (`$select`, no bodies; a sent copy's In-Reply-To/References through `$expand`ed MAPI
properties, as Sent Items has no internetMessageHeaders), and downloads a message's MIME only when the core
will log it, 20 messages per JSON `$batch`. Every call carries `Prefer: IdType="ImmutableId"` so
ids survive folder moves.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from connector.config import Settings
from connector.errors import PermanentError, ProviderError, Throttled, TokenExpired, TransientError, most_severe
from connector.mail.envelope import Envelope
from connector.ports import ApiUsage, ChangePage, MailboxRef, Subscription
from providers.graph import mapping, subscriptions
from providers.graph.auth import GraphAuth
from providers.graph.client import BATCH_LIMIT, IMMUTABLE_IDS, LoopThread, Usage, batch, call, make_client
from providers.graph.push import GraphNotificationParser
from providers.graph.signin import MicrosoftSignIn

SENT_ITEMS = "sentitems"
FOLDERS = (SENT_ITEMS, "inbox")  # Bcc is only visible on the sender's Sent Items copy
PAGE_SIZE = 50
RECENT_LIMIT = 5_000  # a resync reads at most this many recent messages
BATCH_ATTEMPTS = 3  # a $batch whose items keep failing is sent again twice, then the error goes to the engine
MAX_BATCH_WAIT = 5.0  # seconds; a longer Retry-After is for the engine to wait (it reschedules the mailbox)
MIME = "messages/$value"
log = logging.getLogger("bcc_capture.graph")
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
        self._sent_items: dict[int, str] = {}  # mailbox id → Sent Items folder id
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
                    select=mapping.SELECT, expand=mapping.EXPAND, filter=f"receivedDateTime ge {since}")
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
                    envelope = mapping.header_envelope(message, mailbox.address, sent=folder == SENT_ITEMS)
                    if envelope is not None:
                        envelopes.append(envelope)
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
            select=mapping.SELECT, expand=mapping.EXPAND,
            filter=f"receivedDateTime ge {since.isoformat().replace('+00:00', 'Z')}",
            top=100)
        newest_first = self._list(mailbox, query, RECENT_LIMIT)
        return ChangePage(newest_first[::-1], cursor)  # oldest first: threads open before their replies

    def thread(self, mailbox: MailboxRef, envelope: Envelope) -> Sequence[Envelope]:
        """The conversation's messages linked to ``envelope``: conversationId (a subject topic) is only a hint."""
        conversation = mapping.conversation_of(envelope)
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
            select=mapping.SELECT, expand=mapping.EXPAND, filter=f"conversationId eq {_odata_string(conversation)}",
            top=100)
        return mapping.linked(envelope, self._list(mailbox, query, 1_000))

    def find(self, mailbox: MailboxRef, internet_message_id: str) -> Envelope | None:
        spellings = mapping.message_id_spellings(internet_message_id)
        wanted = " or ".join(f"internetMessageId eq {_odata_string(spelling)}" for spelling in spellings)
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
            select=mapping.SELECT, expand=mapping.EXPAND, filter=wanted, top=5)
        found = self._list(mailbox, query, 5)
        return found[0] if found else None

    def headers(self, mailbox: MailboxRef, envelopes: Sequence[Envelope]) -> Sequence[Envelope]:
        return envelopes  # delta pages always carry the headers: Graph never yields ids-only envelopes

    def _list(self, mailbox: MailboxRef, query: Any, limit: int) -> list[Envelope]:
        async def pages() -> list[Envelope]:
            sent_items = await self._sent_items_id(mailbox)
            builder = self._user(mailbox).messages
            page = await call(builder.get(_config(query, page_size=100)), "messages")
            found: list[Envelope] = []
            while page is not None:
                for message in page.value or []:
                    sent = message.parent_folder_id == sent_items
                    envelope = mapping.header_envelope(message, mailbox.address, sent=sent)
                    if envelope is not None:
                        found.append(envelope)
                if not page.odata_next_link or len(found) >= limit:
                    break
                page = await call(builder.with_url(page.odata_next_link).get(_config(page_size=100)), "messages")
            return found[:limit]

        return self._run(mailbox, pages)

    async def _sent_items_id(self, mailbox: MailboxRef) -> str:
        """The id of the mailbox's Sent Items (asked once per mailbox): `/messages` spans every folder."""
        if mailbox.mailbox_id not in self._sent_items:
            folder = await call(self._user(mailbox).mail_folders.by_mail_folder_id(SENT_ITEMS).get(), "mailFolders")
            if folder is None or not folder.id:
                raise PermanentError(f"no Sent Items folder for {mailbox.address}")
            self._sent_items[mailbox.mailbox_id] = folder.id
        return self._sent_items[mailbox.mailbox_id]

    # ------------------------------------------------------------------------------------ content
    def fetch_full(self, mailbox: MailboxRef, envelopes: Sequence[Envelope]) -> Sequence[Envelope]:
        """Each message's MIME (`/$value`), 20 per JSON `$batch`, one batch after another.

        Graph runs at most 4 items of a batch at a time, the mailbox's concurrency limit, so batches sent
        in parallel would only be throttled. Every envelope ends complete, skipped as deleted (404), or in
        an exception: the engine then retries the whole step, so nothing is lost.
        """
        async def fetch_all() -> list[Envelope]:
            found: list[Envelope] = []
            for start in range(0, len(envelopes), BATCH_LIMIT):
                found += await self._fetch_batch(mailbox, envelopes[start:start + BATCH_LIMIT])
            return found

        return self._run(mailbox, fetch_all) if envelopes else []

    async def _fetch_batch(self, mailbox: MailboxRef, chunk: Sequence[Envelope]) -> list[Envelope]:
        """One `$batch`; items answering 429/5xx (each is throttled on its own) are sent again, alone."""
        waiting = {str(n): envelope for n, envelope in enumerate(chunk)}
        raw: dict[str, bytes] = {}
        config: RequestConfiguration = RequestConfiguration()
        config.headers.add("Prefer", IMMUTABLE_IDS)
        async for attempt in AsyncRetrying(retry=retry_if_exception(_worth_waiting), wait=_wait,
                                           stop=stop_after_attempt(BATCH_ATTEMPTS), reraise=True):
            with attempt:
                messages = self._user(mailbox).messages
                requests = {i: messages.by_message_id(e.provider_message_id).content.to_get_request_information(config)
                            for i, e in waiting.items()}
                answers = await batch(self.client, requests, MIME, self.usage_counter)
                errors: list[ProviderError] = []
                for item_id, envelope in list(waiting.items()):
                    answer = answers.get(item_id)
                    if answer is None:
                        errors.append(TransientError(f"$batch left item {item_id} unanswered", endpoint=MIME))
                    elif answer.status == 200 and not isinstance(answer.body, dict | list):
                        raw[item_id] = answer.body or b""
                        del waiting[item_id]
                    elif answer.status == 404 and answer.code == "ErrorItemNotFound":
                        # Deleted for good since the decision (a soft delete is a move, and ids are immutable).
                        log.info("message gone before its download", extra={
                            "mailbox": mailbox.address, "provider_message_id": envelope.provider_message_id})
                        del waiting[item_id]
                    else:
                        errors.append(answer.error(MIME))
                if errors:
                    raise most_severe(errors)
        return [mapping.complete_envelope(raw[str(n)], e) for n, e in enumerate(chunk) if str(n) in raw]

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


def _worth_waiting(error: BaseException) -> bool:
    """Retry a batch here on 5xx and on throttling with a short Retry-After; anything else is the engine's."""
    if isinstance(error, Throttled):
        return error.retry_after <= MAX_BATCH_WAIT
    return isinstance(error, TransientError)


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    return error.retry_after if isinstance(error, Throttled) else 0.5 * 2 ** (state.attempt_number - 1)


def build(settings: Settings, clock: Callable[[], datetime]) -> tuple[GraphProvider, GraphNotificationParser]:
    """The composition root's entry point (connector/app/assembly.py)."""
    return GraphProvider(settings, clock), GraphNotificationParser()


def consent_flow(settings: Settings) -> GraphAuth:
    """Per-user consent for the console (connect / reconnect Outlook)."""
    return GraphAuth(settings.graph)


def sign_in(settings: Settings) -> MicrosoftSignIn:
    """Sign-in to the console with this provider's identity platform."""
    return MicrosoftSignIn(settings.graph)
