"""`GraphProvider`: Microsoft Graph behind the `Provider` protocol the sync engine drives.

Reads every folder mail arrives in by per-folder delta, 20 folders a `$batch` (`folders`, `deltas`), decides on
header-only metadata (`$select`, no bodies; a sent copy's In-Reply-To/References through `$expand`ed MAPI
properties, as Sent Items has no internetMessageHeaders), and downloads a message's MIME only when the core
will log it, 20 messages per JSON `$batch`. Every call carries `Prefer: IdType="ImmutableId"` so
ids survive folder moves.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from connector.config import Settings
from connector.errors import ProviderError, Throttled, TokenExpired, TransientError, most_severe
from connector.mail.envelope import Envelope
from connector.ports import ApiUsage, ChangePage, MailboxRef, Subscription
from providers.graph import deltas, folders, mapping, prefetch, subscriptions
from providers.graph.auth import GraphAuth
from providers.graph.client import (
    BATCH_LIMIT,
    IMMUTABLE_IDS,
    LoopThread,
    Usage,
    batch,
    get_json,
    make_client,
    one,
    request_timeout,
)
from providers.graph.deltas import DeltaCursor
from providers.graph.push import GraphNotificationParser
from providers.graph.signin import MicrosoftSignIn

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


def _conversation(conversation: str) -> Any:
    """The query listing a conversation's messages (`thread`, and its listings read ahead by `prefetch`)."""
    return MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
        select=mapping.SELECT, expand=mapping.EXPAND, filter=f"conversationId eq {_odata_string(conversation)}",
        top=100)


class GraphProvider:
    name = "graph"
    push_settle_seconds = 0.0  # Graph sends a notification per change (several may share one POST)

    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.clock = clock
        self.auth = GraphAuth(settings.graph)
        self.usage_counter = Usage()
        self._maps: dict[int, folders.FolderMap] = {}  # mailbox id → its folders, as last read
        self._listings = prefetch.Listings()  # conversations listed in the free slots of download batches
        self.loop = LoopThread()
        host = settings.graph.graph_url.split("//", 1)[-1].split("/", 1)[0].split(":")[0]
        verify: str | bool = settings.graph.ca_bundle or True
        self.client: GraphServiceClient = self.loop.run(self._make(host, verify))

    async def _make(self, host: str, verify: str | bool) -> GraphServiceClient:
        return make_client(self.settings.graph.graph_url, host, _token.get, self.usage_counter, verify)

    def _run(self, mailbox: MailboxRef, coroutine_factory: Callable[[], Any], fresh: bool = False) -> Any:
        """Run SDK calls with the mailbox's token (``fresh``: a newly issued one); on a 401 refresh once (a revoked
        grant shows there)."""
        try:
            return self._with_token(self.auth.access_token(mailbox, force_refresh=fresh), mailbox.timeout,
                                    coroutine_factory)
        except TokenExpired:
            return self._with_token(self.auth.access_token(mailbox, force_refresh=True), mailbox.timeout,
                                    coroutine_factory)

    def _with_token(self, token: str, timeout: float, coroutine_factory: Callable[[], Any]) -> Any:
        async def with_token() -> Any:
            _token.set(token)
            request_timeout.set(timeout)  # each request's, sized by the sync to the mailbox's page size
            return await coroutine_factory()

        return self.loop.run(with_token())

    def _user(self, mailbox: MailboxRef) -> Any:
        return self.client.users.by_user_id(mailbox.provider_user_id or mailbox.address)

    # ------------------------------------------------------------------------------------ cursors
    def _batch(self) -> deltas.Batch:
        return lambda requests: batch(self.client, requests, "delta", self.usage_counter)

    async def _remap(self, mailbox: MailboxRef, cursor: DeltaCursor, now: datetime) -> None:
        found = await folders.discover(self._user(mailbox), self._batch())
        self._maps[mailbox.mailbox_id] = found
        cursor.remap(found, now, lambda folder, since: deltas.initial_url(self._user(mailbox), folder, since))

    def start_cursor(self, mailbox: MailboxRef) -> str:
        """Every followed folder's delta link at 'now': rounds over mail received from five minutes ago,
        walked to their ends (the round's `$select` is encoded into every later link)."""
        async def walk() -> str:
            now = self.clock().astimezone(UTC)
            cursor = DeltaCursor()
            await self._remap(mailbox, cursor, now)
            while (await deltas.read_all(self._user(mailbox), self._batch(), cursor, mailbox.address, now,
                                         page_size=mailbox.page_size or 500)).more:
                pass
            return cursor.dumps()

        return str(self._run(mailbox, walk))

    def read_changes(self, mailbox: MailboxRef, cursor: str) -> ChangePage:
        """One page of every followed folder (see `deltas`); the folder map is read again when due or when
        mail shows up in a folder it does not have."""
        state = DeltaCursor.loads(cursor)
        self._listings.forget(mailbox.mailbox_id)
        if state.mapped_at:  # the cursor knows Sent Items and the skipped folders: no listing for a first look-up
            self._maps[mailbox.mailbox_id] = folders.FolderMap({folders.SENT_ITEMS: state.sent},
                                                               skipped=set(state.skipped))

        async def one_page() -> ChangePage:
            now = self.clock().astimezone(UTC)
            if state.due(now):
                await self._remap(mailbox, state, now)
            found = await deltas.read_all(self._user(mailbox), self._batch(), state, mailbox.address, now,
                                          page_size=mailbox.page_size or deltas.PAGE_SIZE)
            if found.unknown_folders or (found.probe_cut and state.due(now, deltas.CUT_PROBE_REMAP)):
                await self._remap(mailbox, state, now)
                found.more = True  # the new folders' rounds are read by the next page
            return deltas.change_page(found, state)

        return self._run(mailbox, one_page)

    def recent(self, mailbox: MailboxRef, since: datetime) -> ChangePage:
        """Bounded resync: fresh delta links first (nothing slips between), then recent mail."""
        self._listings.forget(mailbox.mailbox_id)
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
        listed = self._listings.take(mailbox.mailbox_id, conversation)  # read with the download, if it was
        return mapping.linked(envelope, self._list(mailbox, _conversation(conversation), 1_000, listed))

    def find(self, mailbox: MailboxRef, internet_message_id: str) -> Envelope | None:
        spellings = mapping.message_id_spellings(internet_message_id)
        wanted = " or ".join(f"internetMessageId eq {_odata_string(spelling)}" for spelling in spellings)
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
            select=mapping.SELECT, expand=mapping.EXPAND, filter=wanted, top=5)
        found = self._list(mailbox, query, 5)
        return found[0] if found else None

    def headers(self, mailbox: MailboxRef, envelopes: Sequence[Envelope]) -> Sequence[Envelope]:
        return envelopes  # delta pages always carry the headers: Graph never yields ids-only envelopes

    def _list(self, mailbox: MailboxRef, query: Any, limit: int, first: dict[str, Any] | None = None) -> list[Envelope]:
        """Up to ``limit`` messages of a `/messages` listing (``first``: its first page, already read)."""
        async def pages() -> list[Envelope]:
            known = await self._folder_map(mailbox)
            builder = self._user(mailbox).messages
            size = mailbox.page_size or 100
            page = first or await get_json(self.client, builder.to_get_request_information(_config(query, size)),
                                           "messages")
            found: list[Envelope] = []
            while True:
                for message in page.get("value") or []:
                    if not isinstance(message, dict):
                        continue
                    folder = message.get("parentFolderId")
                    if folder in known.skipped:
                        continue  # Drafts, Deleted Items, Junk …: never read
                    envelope = mapping.header_envelope(message, mailbox.address, sent=folder == known.sent)
                    if envelope is not None:
                        found.append(envelope)
                link = page.get("@odata.nextLink")
                if not link or len(found) >= limit:
                    break
                page = await get_json(self.client, builder.with_url(str(link)).to_get_request_information(
                    _config(page_size=size)), "messages")
            return found[:limit]

        return self._run(mailbox, pages)

    async def _folder_map(self, mailbox: MailboxRef) -> folders.FolderMap:
        """The mailbox's folders (read once per mailbox and process): `/messages` spans every folder."""
        if mailbox.mailbox_id not in self._maps:
            self._maps[mailbox.mailbox_id] = await folders.discover(self._user(mailbox), self._batch())
        return self._maps[mailbox.mailbox_id]

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
                chunk = envelopes[start:start + BATCH_LIMIT]
                last = start + BATCH_LIMIT >= len(envelopes)  # the free slots of the last batch list conversations
                listed = self._listings.wanted(mailbox.mailbox_id, [mapping.conversation_of(e) for e in envelopes],
                                               BATCH_LIMIT - len(chunk)) if last else []
                found += await self._fetch_batch(mailbox, chunk, listed)
            return found

        return self._run(mailbox, fetch_all) if envelopes else []

    async def _fetch_batch(self, mailbox: MailboxRef, chunk: Sequence[Envelope], listed: Sequence[str] = ()
                           ) -> list[Envelope]:
        """One `$batch` (a plain GET for a lone download); items answering 429/5xx (each is throttled on its own)
        are sent again, alone. ``listed``: conversations listed in the same batch, once (see `prefetch`)."""
        waiting = {str(n): envelope for n, envelope in enumerate(chunk)}
        raw: dict[str, bytes] = {}
        config: RequestConfiguration = RequestConfiguration()
        config.headers.add("Prefer", IMMUTABLE_IDS)
        user = self._user(mailbox)
        listings = {f"{prefetch.KEY}{n}": user.messages.to_get_request_information(
            _config(_conversation(c), mailbox.page_size or 100)) for n, c in enumerate(listed)}
        async for attempt in AsyncRetrying(retry=retry_if_exception(_worth_waiting), wait=_wait,
                                           stop=stop_after_attempt(BATCH_ATTEMPTS), reraise=True):
            with attempt:
                requests = {i: user.messages.by_message_id(e.provider_message_id).content
                            .to_get_request_information(config) for i, e in waiting.items()}
                requests.update(listings)
                answers = await (batch(self.client, requests, MIME, self.usage_counter) if len(requests) > 1
                                 else one(self.client, requests, MIME))
                if listings:
                    self._listings.keep(mailbox.mailbox_id, listed, answers)
                    listings = {}  # a retry sends the downloads alone
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
    # A subscription lives on the token it was created or renewed with: Graph asks for reauthorization before
    # that token expires (routinely, not only on revocation), so both are made with a newly issued one.
    def subscribe(self, mailbox: MailboxRef, notification_url: str, now: datetime, client_state: str) -> Subscription:
        return self._run(mailbox, lambda: subscriptions.create(self.client, mailbox.provider_user_id or mailbox.address,
                                                               notification_url, now, client_state), fresh=True)

    def renew(self, mailbox: MailboxRef, subscription: Subscription, now: datetime) -> Subscription:
        return self._run(mailbox, lambda: subscriptions.renew(self.client, subscription, now), fresh=True)

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
