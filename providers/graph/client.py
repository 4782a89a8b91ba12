"""The msgraph-sdk client: one event loop per adapter, our own retry policy, errors translated.

msgraph-sdk is asyncio-based while the sync engine is not: each adapter owns one background event
loop and runs its coroutines there, so one httpx client (and its connection pool) serves all calls.
Kiota's own retry handler is switched off: rate limits and failures go back to the engine as
`connector.errors` and become data on the mailbox row (honouring Retry-After there).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import httpx
from kiota_abstractions.api_error import APIError
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator
from kiota_abstractions.authentication.base_bearer_token_authentication_provider import (
    BaseBearerTokenAuthenticationProvider,
)
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph_core import GraphClientFactory

from connector.errors import (
    CursorExpired,
    GrantRevoked,
    PermanentError,
    ProviderError,
    Throttled,
    TokenExpired,
    TransientError,
)

T = TypeVar("T")
IMMUTABLE_IDS = 'IdType="ImmutableId"'


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
    """HTTP requests, bytes and endpoints, counted from httpx event hooks (benchmarks and metrics)."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        self.by_endpoint: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def on_request(self, request: httpx.Request) -> None:
        with self._lock:
            self.requests += 1
            self.by_endpoint[_endpoint(request.url.path)] += 1

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
        message = f"Graph {status} {code}: {error.message or ''}".strip()
        if status in (429, 503, 509) or code in ("TooManyRequests", "ApplicationThrottled"):
            return Throttled(message, retry_after=_retry_after(headers), endpoint=endpoint, status=status)
        if status == 410 or code.lower() in ("syncstatenotfound", "resyncrequired", "syncstateinvalid"):
            return CursorExpired(message, endpoint=endpoint, status=status)
        if status == 401:
            return TokenExpired(message, endpoint=endpoint, status=status)
        if status == 403 and code in ("ErrorAccessDenied", "AccessDenied", "Authorization_RequestDenied"):
            return GrantRevoked(message, endpoint=endpoint, status=status)
        if status >= 500:
            return TransientError(message, endpoint=endpoint, status=status)
        return PermanentError(message, endpoint=endpoint, status=status)
    if isinstance(error, httpx.TransportError | asyncio.TimeoutError | TimeoutError | ConnectionError):
        return TransientError(f"{type(error).__name__}: {error}", endpoint=endpoint)
    return PermanentError(f"{type(error).__name__}: {error}", endpoint=endpoint)


def _error_code(error: APIError) -> str:
    inner = getattr(error, "error", None)
    return str(getattr(inner, "code", "") or "")


def _retry_after(headers: dict[str, Any]) -> float:
    value = headers.get("retry-after")
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    try:
        return max(float(value), 0.0) if value is not None else 5.0
    except ValueError:
        return 5.0


async def call(awaitable: Awaitable[T], endpoint: str) -> T:
    try:
        return await awaitable
    except Exception as exc:
        raise translate(exc, endpoint) from exc
