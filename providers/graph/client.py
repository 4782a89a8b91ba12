"""The msgraph-sdk client: one event loop per adapter, our own retry policy, errors translated.

msgraph-sdk is asyncio-based while the sync engine is not: each adapter owns one background event
loop and runs its coroutines there, so one httpx client (and its connection pool) serves all calls.
Kiota's own retry handler is switched off: rate limits and failures go back to the engine as
`connector.errors` and become data on the mailbox row (honouring Retry-After there). `batch` sends
up to 20 requests as one JSON `$batch` and hands back each item's status, headers and body.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextvars
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from kiota_abstractions.api_error import APIError
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator
from kiota_abstractions.authentication.base_bearer_token_authentication_provider import (
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.request_information import RequestInformation
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_core import GraphClientFactory
from msgraph_core.requests.batch_request_builder import BatchRequestBuilder
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_item import BatchRequestItem

from connector.errors import (
    CursorExpired,
    GrantRevoked,
    PermanentError,
    ProviderError,
    StatusRule,
    Throttled,
    TimedOut,
    TokenExpired,
    TransientError,
    error_kind,
)

T = TypeVar("T")
IMMUTABLE_IDS = 'IdType="ImmutableId"'
BATCH_LIMIT = 20  # Graph's documented maximum of requests in one JSON $batch
BATCH_CONCURRENCY = 4  # Graph runs at most 4 items of a $batch at once (per-mailbox concurrency limit)
# Seconds one request of the current mailbox may take (MailboxRef.timeout, sized by the sync to the page asked
# for); 0: only the httpx client's own timeout.
request_timeout: contextvars.ContextVar[float] = contextvars.ContextVar("graph_request_timeout", default=0.0)


class LoopThread:
    """A private asyncio loop in a daemon thread; `run` blocks the caller until the coroutine ends."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="graph-sdk", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


class _TokenFor(AccessTokenProvider):
    """Hands the SDK the token for the mailbox the current call is about."""

    def __init__(self, token: Callable[[], str], host: str) -> None:
        self._token = token
        self._validator = AllowedHostsValidator([host])

    async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
        return self._token() if self._validator.is_url_host_valid(uri) else ""

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._validator


class Usage:
    """HTTP requests, bytes and API calls by endpoint (benchmarks and metrics).

    Requests and bytes come from httpx event hooks. `by_endpoint` counts calls, as the Gmail adapter
    does: a `$batch` POST under ``/$batch`` and each of its items under its own endpoint.
    """

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        self.by_endpoint: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def on_request(self, request: httpx.Request) -> None:
        with self._lock:
            self.requests += 1
            self.by_endpoint[_endpoint(request.url.path)] += 1

    def batched(self, paths: list[str]) -> None:
        """The items of a `$batch` Graph answered (no HTTP request of their own)."""
        with self._lock:
            self.by_endpoint.update(_endpoint(path.split("?", 1)[0]) for path in paths)

    async def on_response(self, response: httpx.Response) -> None:
        await response.aread()
        with self._lock:
            self.bytes += len(response.content)


_TEMPLATES = (
    (re.compile(r"^.*?/v1\.0"), ""),
    (re.compile(r"/users/[^/]+"), "/users/{id}"),
    (re.compile(r"/mailFolders(\('[^']*'\)|/[^/]+)"), "/mailFolders/{folder}"),
    (re.compile(r"/messages/(?!delta)[^/]+"), "/messages/{id}"),
    (re.compile(r"/subscriptions/[^/]+"), "/subscriptions/{id}"),
    (re.compile(r"\(\)$"), ""),
)


def _endpoint(path: str) -> str:
    """``/v1.0/users/x/messages/AAMk…/$value`` → ``/users/{id}/messages/{id}/$value`` (a metric label)."""
    for pattern, replacement in _TEMPLATES:
        path = pattern.sub(replacement, path)
    return path


def make_client(graph_url: str, host: str, token: Callable[[], str], usage: Usage,
                verify: str | bool = True) -> GraphServiceClient:
    """A GraphServiceClient on ``graph_url`` whose bearer token comes from ``token()``."""
    options = {RetryHandlerOption.get_key(): RetryHandlerOption(max_retries=0, should_retry=False)}
    http = httpx.AsyncClient(verify=verify, trust_env=False, timeout=60,
                             event_hooks={"request": [usage.on_request], "response": [usage.on_response]})
    http = GraphClientFactory.create_with_default_middleware(client=http, options=options)
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(_TokenFor(token, host)), client=http)
    adapter.base_url = graph_url  # before the client, which would default it to graph.microsoft.com
    return GraphServiceClient(request_adapter=adapter)


def translate(error: BaseException, endpoint: str = "") -> ProviderError:
    """SDK and transport exceptions → the connector's error tree (the provider boundary)."""
    if isinstance(error, ProviderError):
        return error
    if isinstance(error, APIError):
        status = error.response_status_code or 0
        code = _error_code(error)
        headers = {k.lower(): v for k, v in (error.response_headers or {}).items()}
        return from_status(status, code, headers, f"Graph {status} {code}: {error.message or ''}".strip(), endpoint)
    if isinstance(error, httpx.TimeoutException | TimeoutError):  # asyncio.TimeoutError is TimeoutError
        return TimedOut(f"no answer in time: {type(error).__name__}: {error}", endpoint=endpoint)
    if isinstance(error, httpx.TransportError | ConnectionError):
        return TransientError(f"{type(error).__name__}: {error}", endpoint=endpoint)
    return PermanentError(f"{type(error).__name__}: {error}", endpoint=endpoint)


# A Graph error answer → the connector's error: the first row that matches decides (codes in lower case).
STATUS_RULES = (
    StatusRule(Throttled, statuses=(429, 503, 509)),
    StatusRule(Throttled, codes=frozenset({"toomanyrequests", "applicationthrottled"})),
    StatusRule(CursorExpired, statuses=(410,)),
    StatusRule(CursorExpired, codes=frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})),
    StatusRule(TokenExpired, statuses=(401,)),
    StatusRule(GrantRevoked, statuses=(403,),
               codes=frozenset({"erroraccessdenied", "accessdenied", "authorization_requestdenied"})),
    StatusRule(TransientError, statuses=range(500, 600)),
)


def _item_body(body: Any) -> Any:
    """A `$batch` item's body: JSON as Graph parsed it, anything else bytes. Graph base64-encodes bodies that
    are not JSON (a `$value`'s MIME), but how it wraps them is not documented: a string that is not strict
    base64 (MIME has colons, spaces and line breaks) is the text itself."""
    if not isinstance(body, str):
        return body
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error:
        return body.encode("utf-8")


def from_status(status: int, code: str, headers: Mapping[str, Any], message: str, endpoint: str = "") -> ProviderError:
    """A Graph error answer (a whole response or one `$batch` item) → the connector's error tree."""
    kind = error_kind(STATUS_RULES, status, {code.lower()}, endpoint)
    if kind is Throttled:
        return Throttled(message, retry_after=retry_after(headers), endpoint=endpoint, status=status)
    return kind(message, endpoint=endpoint, status=status)


def _error_code(error: APIError) -> str:
    inner = getattr(error, "error", None)
    return str(getattr(inner, "code", "") or "")


def retry_after(headers: Mapping[str, Any]) -> float:
    value = headers.get("retry-after")
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    try:
        return max(float(value), 0.0) if value is not None else 5.0
    except ValueError:
        return 5.0


async def call(awaitable: Awaitable[T], endpoint: str, requests: int = 1) -> T:
    """Await one request (``requests`` > 1: a `$batch` of them) within the time sized for it."""
    timeout = request_timeout.get() * math.ceil(requests / BATCH_CONCURRENCY)
    try:
        return await (asyncio.wait_for(awaitable, timeout) if timeout else awaitable)
    except Exception as exc:
        raise translate(exc, endpoint) from exc


# ---------------------------------------------------------------------------------------- JSON $batch
@dataclass(frozen=True)
class BatchAnswer:
    """One item of a `$batch` response: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: Any  # bytes for bodies Graph sends base64-encoded (a `$value`'s MIME), else the JSON value

    def _error_field(self, name: str) -> str:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return str(error.get(name) or "") if isinstance(error, dict) else ""

    @property
    def code(self) -> str:
        return self._error_field("code")

    def error(self, endpoint: str) -> ProviderError:
        message = f"Graph {self.status} {self.code} in $batch: {self._error_field('message')}".strip()
        return from_status(self.status, self.code, self.headers, message, endpoint)


async def batch(client: GraphServiceClient, requests: Mapping[str, RequestInformation], endpoint: str,
                usage: Usage) -> dict[str, BatchAnswer]:
    """One `POST /$batch` of at most 20 SDK-built requests; the answers by request id.

    The request is msgraph-core's (BatchRequestContent, BatchRequestBuilder) and goes through the client's
    own adapter: same token, base URL, middleware and usage hooks, errors of the whole batch translated as
    for any call. The response is read here rather than by msgraph-core's BatchResponseItem, which reads
    every item body as base64 and so drops JSON error bodies with the error code `from_status` needs.
    """
    assert 0 < len(requests) <= BATCH_LIMIT
    adapter = client.request_adapter
    base = adapter.base_url.rstrip("/")
    content = BatchRequestContent()
    for request_id, info in requests.items():
        item = BatchRequestItem(info, id=request_id)
        # Graph wants item URLs relative to the version root; some msgraph-core versions keep absolute ones.
        item.url = item.url.removeprefix(base)
        content.add_request(request_id, item)
    post = await BatchRequestBuilder(adapter).to_post_request_information(content)
    raw = await call(adapter.send_primitive_async(post, "bytes", {"XXX": ODataError}), endpoint, len(requests))
    usage.batched([item.url for item in content.requests.values()])
    answers: dict[str, BatchAnswer] = {}
    for answer in json.loads(raw or b"{}").get("responses") or []:
        body = answer.get("body")
        body = _item_body(body)
        headers = {str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
        answers[str(answer.get("id"))] = BatchAnswer(int(answer.get("status") or 0), headers, body)
    return answers


async def get_json(client: GraphServiceClient, request: RequestInformation, endpoint: str) -> dict[str, Any]:
    """One GET whose JSON answer is read as it is: msgraph-sdk's models cost ~45 ms of CPU per message parsed
    (see `mapping.header_envelope`), more than the whole rest of a sync step."""
    raw = await call(client.request_adapter.send_primitive_async(request, "bytes", {"XXX": ODataError}), endpoint)
    body = json.loads(raw or b"{}")
    return body if isinstance(body, dict) else {}


async def one(client: GraphServiceClient, requests: Mapping[str, RequestInformation],
              endpoint: str) -> dict[str, BatchAnswer]:
    """A lone request sent as itself, answered as in a `$batch` (a 200's body as bytes): the same one HTTP request
    as a `$batch` of one, without the batch envelope and the base64 wrapping of the body. Callers of `batch` take
    it as they are."""
    assert len(requests) == 1
    (request_id, request), = requests.items()
    try:
        raw = await call(client.request_adapter.send_primitive_async(request, "bytes", {"XXX": ODataError}), endpoint)
    except ProviderError as exc:
        cause = exc.__cause__
        if not isinstance(cause, APIError) or not cause.response_status_code:
            raise  # no answer at all (timeout, connection): the caller's retry decides
        headers = {str(k).lower(): str(v) for k, v in (cause.response_headers or {}).items()}
        error = {"code": _error_code(cause), "message": str(cause.message or "")}
        return {request_id: BatchAnswer(cause.response_status_code, headers, {"error": error})}
    return {request_id: BatchAnswer(200, {}, raw or b"")}
