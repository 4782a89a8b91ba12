"""Gmail API calls for the adapter: a fresh service per operation, batches, usage, error translation.

httplib2 is not thread-safe, so every operation (`GmailClient.open`) gets its own ``Http`` and
service; building from the shipped discovery document is cheap. Credentials are cached per mailbox
so a refreshed access token is reused by later operations. Every foreign exception leaves this
module as a `connector.errors.ProviderError`: HTTP error answers through the `STATUS_RULES` table
(the first matching row decides, anything else is a PermanentError), a refused token refresh
(invalid_grant, unauthorized_client) as GrantRevoked, socket/httplib2/transport errors as TransientError.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any
from urllib.parse import urljoin

import google.auth.credentials
import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2 import credentials as user_credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient import discovery_cache
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import Error as ClientError
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from connector.config import GmailSettings
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
    most_severe,
)
from connector.ports import ApiUsage, MailboxRef
from providers.gmail.auth import mailbox_credentials
from providers.gmail.quota import UNLISTED_UNITS, units_table

Clock = Callable[[], datetime]

MAX_BATCH = 50  # Gmail allows 100, but batches over 50 draw "Too many concurrent requests for user"
TIMEOUT_SECONDS = 60
# Gmail's quota is per user per minute, and its 403 userRateLimitExceeded names no Retry-After: wait half
# a window when nothing says more.
DEFAULT_RETRY_AFTER = 30.0
# A Gmail API error answer → the connector's error: the first row that matches decides (reasons in lower case).
STATUS_RULES = (
    StatusRule(Throttled, statuses=(429,)),
    StatusRule(Throttled, statuses=(403,), codes=frozenset({"ratelimitexceeded", "userratelimitexceeded"})),
    StatusRule(TransientError, statuses=range(500, 600)),
    StatusRule(TransientError, codes=frozenset({"backenderror"})),
    StatusRule(CursorExpired, statuses=(404,), endpoint="gmail.users.history.list"),
    StatusRule(TokenExpired, statuses=(401,)),
)
REVOKED_GRANT = ("invalid_grant", "unauthorized_client")
_RETRY_AT = re.compile(r"Retry after (\S+)")


class Usage:
    """Thread-safe counters behind `GmailProvider.usage()`."""

    def __init__(self, token_uri: str, units: Mapping[str, int]) -> None:
        self._lock = threading.Lock()
        self._token_uri = token_uri
        self._units = dict(units)  # a batch of n calls costs its n calls
        self.http_requests = 0
        self.quota_units = 0
        self.bytes_downloaded = 0
        self.by_endpoint: Counter[str] = Counter()

    def round_trip(self, uri: str, downloaded: int) -> None:
        with self._lock:
            self.http_requests += 1
            self.bytes_downloaded += downloaded
            if uri.startswith(self._token_uri):
                self.by_endpoint["oauth2.token"] += 1
            elif "/batch/" in uri:
                self.by_endpoint["batch"] += 1

    def call(self, method: str, charged: bool) -> None:
        with self._lock:
            self.by_endpoint[method] += 1
            self.quota_units += self._units.get(method, UNLISTED_UNITS) if charged else 0

    def snapshot(self) -> ApiUsage:
        with self._lock:
            return ApiUsage(self.http_requests, self.quota_units, self.bytes_downloaded, dict(self.by_endpoint))


class _CountingHttp(httplib2.Http):
    """httplib2 transport that tallies every round trip (API calls, batches, token refreshes)."""

    def __init__(self, usage: Usage, timeout: float = TIMEOUT_SECONDS) -> None:
        super().__init__(timeout=timeout)
        self._usage = usage

    def request(self, uri: str, *args: Any, **kwargs: Any) -> tuple[httplib2.Response, bytes]:
        response, content = super().request(uri, *args, **kwargs)
        self._usage.round_trip(uri, len(content or b""))
        return response, content


@cache
def _discovery_document() -> str:
    return discovery_cache.get_static_doc("gmail", "v1")


# ----------------------------------------------------------------------------------- translation
def _error_body(exc: HttpError) -> tuple[set[str], str]:
    try:
        error = json.loads(exc.content)["error"]
        return {str(e.get("reason")) for e in error.get("errors") or ()}, str(error.get("message") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return set(), ""


def retry_after(exc: HttpError, now: datetime) -> float:
    """Seconds to wait: the Retry-After header, else "Retry after <RFC 3339>" in the message, else a default."""
    header = exc.resp.get("retry-after") if exc.resp is not None else None
    when: datetime | None = None
    if header:
        try:
            return max(float(header), 1.0)
        except ValueError:
            try:
                when = parsedate_to_datetime(header)
            except (TypeError, ValueError):
                when = None
    if when is None:
        match = _RETRY_AT.search(_error_body(exc)[1])
        try:
            when = datetime.fromisoformat(match.group(1)) if match else None
        except ValueError:
            when = None
    if when is None:
        return DEFAULT_RETRY_AFTER
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 1.0)


def _oauth_error(exc: RefreshError) -> str:
    details = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    return str(details.get("error") or str(exc).split(":", 1)[0]).strip()


def translate(exc: BaseException, method: str, now: datetime) -> ProviderError | None:
    """The connector error for a foreign exception, or None for one that is not the API's (a bug)."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, RefreshError):
        code = _oauth_error(exc)
        if code in REVOKED_GRANT:
            return GrantRevoked(f"Google refused to refresh the token: {exc}", endpoint="oauth2.token")
        kind = TransientError if getattr(exc, "retryable", False) else PermanentError
        return kind(f"token refresh failed: {exc}", endpoint="oauth2.token")
    if isinstance(exc, HttpError):
        status = exc.resp.status if exc.resp is not None else 0
        reasons, message = _error_body(exc)
        text = f"{method}: {status} {message or exc.reason}"
        kind = error_kind(STATUS_RULES, status, {r.lower() for r in reasons}, method)
        if kind is Throttled:
            return Throttled(text, retry_after=retry_after(exc, now), endpoint=method, status=status)
        return kind(text, endpoint=method, status=status)
    if isinstance(exc, TimeoutError):  # socket.timeout: no answer within the time sized for the call
        return TimedOut(f"{method}: no answer in time: {exc}", endpoint=method)
    # An answer cut off mid-body surfaces as http.client.IncompleteRead (an HTTPException, not an OSError).
    if isinstance(exc, TransportError | httplib2.HttpLib2Error | OSError | http.client.HTTPException):
        return TransientError(f"{method}: {type(exc).__name__}: {exc}", endpoint=method)
    if isinstance(exc, ClientError):
        return PermanentError(f"{method}: {type(exc).__name__}: {exc}", endpoint=method)
    return None


def _charged(error: ProviderError) -> bool:
    # Google bills calls it answered; throttled, unauthenticated and failed ones cost nothing.
    return isinstance(error, PermanentError | CursorExpired)


# ----------------------------------------------------------------------------------- the client
@dataclass
class _Cached:
    credentials: google.auth.credentials.Credentials
    stands_for: set[str]  # digests of the stored JSON this object is current for (loaded, then reported)
    reported_token: str | None  # the access token the database last received


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class GmailClient:
    def __init__(self, settings: GmailSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.usage = Usage(settings.token_uri, units_table(settings.quota_units))
        self.batch_uri = urljoin(settings.api_endpoint, "batch/gmail/v1")  # batch calls ignore api_endpoint
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[int, str, bool], _Cached] = OrderedDict()

    def _credentials_for(self, mailbox: MailboxRef) -> google.auth.credentials.Credentials:
        """One credentials object per mailbox, reused so a refreshed token serves later operations."""
        key = (mailbox.mailbox_id, mailbox.address, mailbox.app_only)
        digest = _digest(mailbox.credentials)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and digest in cached.stands_for:
                self._cache.move_to_end(key)
                return cached.credentials
        credentials = mailbox_credentials(self.settings, mailbox)  # new, or changed by a reconnect
        with self._lock:
            self._cache[key] = _Cached(credentials, {digest}, getattr(credentials, "token", None))
            while len(self._cache) > 10_000:
                self._cache.popitem(last=False)
        return credentials

    def take_credential_updates(self) -> dict[int, str]:
        """User credentials google-auth refreshed since last asked, to store (a restart then skips a refresh)."""
        updates: dict[int, str] = {}
        with self._lock:
            for (mailbox_id, _, _), cached in self._cache.items():
                credentials = cached.credentials
                if not isinstance(credentials, user_credentials.Credentials) or not credentials.token or \
                        credentials.token == cached.reported_token:
                    continue
                stored = credentials.to_json(strip=["client_secret"])
                updates[mailbox_id] = stored
                cached.reported_token = credentials.token
                cached.stands_for.add(_digest(stored))
        return updates

    def open(self, mailbox: MailboxRef) -> MailboxApi:
        """A service for one operation on one mailbox (not to be shared between threads)."""
        # The timeout the sync sized for this mailbox's pages (MailboxRef.timeout), else the default.
        http = AuthorizedHttp(self._credentials_for(mailbox), http=_CountingHttp(self.usage, mailbox.timeout or
                                                                                 TIMEOUT_SECONDS))
        service = build_from_document(_discovery_document(), http=http,
                                      client_options={"api_endpoint": self.settings.api_endpoint})
        return MailboxApi(service.users(), self.batch_uri, self.usage, self.clock)


class MailboxApi:
    def __init__(self, users: Any, batch_uri: str, usage: Usage, clock: Clock) -> None:
        self.users = users  # googleapiclient's users() resource: users.messages().get(...) etc.
        self._batch_uri = batch_uri
        self._usage = usage
        self._clock = clock

    def _failed(self, exc: BaseException, method: str) -> ProviderError | None:
        error = translate(exc, method, self._clock())
        if error is not None:
            self._usage.call(method, charged=_charged(error))
        return error

    def execute(self, request: HttpRequest) -> dict[str, Any]:
        method = str(request.methodId)
        try:
            result = request.execute(num_retries=0)  # retries are the sync engine's policy, not ours
        except Exception as exc:
            error = self._failed(exc, method)
            if error is None:
                raise
            raise error from exc
        self._usage.call(method, charged=True)
        return result or {}

    def batch(self, requests: Sequence[tuple[str, HttpRequest]], size: int = MAX_BATCH,
              into: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
        """Run calls in batches of ``size``; answers by request id. 404s (deleted since) are left out.
        ``into``: where answers go as they come, so a caller keeps those received before a failure."""
        found: dict[str, dict[str, Any]] = {} if into is None else into
        for start in range(0, len(requests), min(size, MAX_BATCH)):
            self._batch(dict(requests[start:start + min(size, MAX_BATCH)]), found)
        return found

    def _batch(self, chunk: dict[str, HttpRequest], found: dict[str, dict[str, Any]]) -> None:
        failures: list[ProviderError] = []

        def collect(request_id: str, response: Any, exception: Exception | None) -> None:
            method = str(chunk[request_id].methodId)
            if exception is None:
                self._usage.call(method, charged=True)
                found[request_id] = response or {}
                return
            error = self._failed(exception, method)
            if isinstance(exception, HttpError) and exception.resp.status == 404:
                return  # deleted between listing and fetching: nothing to read
            failures.append(error or PermanentError(f"{method}: {exception}", endpoint=method))

        batch = BatchHttpRequest(callback=collect, batch_uri=self._batch_uri)
        for request_id, request in chunk.items():
            batch.add(request, request_id=request_id)
        try:
            batch.execute()
        except Exception as exc:
            error = translate(exc, "batch", self._clock())
            if error is None:
                raise
            raise error from exc
        if failures:
            raise most_severe(failures)
