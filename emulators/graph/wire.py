"""Wire-level shapes shared by the Graph handlers: requests, responses, errors, ids, timestamps.

Graph handlers are plain functions ``(GraphRequest) -> GraphResponse`` so that the same code
serves a direct HTTP request and a request inside a JSON ``$batch``.
"""

from __future__ import annotations

import base64
import contextvars
import datetime as dt
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

# Whether the request being answered sent ``Prefer: IdType="ImmutableId"`` (set per request and per $batch item):
# the header "only applies to the request it is included with" (learn.microsoft.com/graph/outlook-immutable-id).
IMMUTABLE_IDS: contextvars.ContextVar[bool] = contextvars.ContextVar("immutable_ids", default=False)


@dataclass
class Principal:
    """Who a Graph request acts for, read from its bearer token."""

    client_id: str
    tenant_id: str
    user_id: str | None  # None for app-only tokens
    scopes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    expires: float = 0.0  # when the bearer token expires (emulated epoch seconds)

    @property
    def app_only(self) -> bool:
        return self.user_id is None


@dataclass
class GraphRequest:
    method: str
    path: str  # below the version root, e.g. "/users/x/messages"
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    root: str  # absolute service root of this listener, e.g. "http://127.0.0.1:5000/v1.0"
    principal: Principal | None = None
    in_batch: bool = False
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def prefer(self) -> dict[str, str]:
        """``Prefer`` preferences (several headers or comma-separated) → {name.lower(): value}."""
        found: dict[str, str] = {}
        for item in self.header("prefer").split(","):
            name, _, value = item.strip().partition("=")
            if name:
                found[name.strip().lower()] = value.strip().strip('"')
        return found


@dataclass
class GraphResponse:
    status: int
    body: Any = None  # dict/list → JSON; bytes/str → raw with content_type
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None


def iso(epoch: float) -> str:
    """Graph's usual timestamp form: ``2018-09-09T03:15:05Z``."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso7(epoch: float) -> str:
    """Subscription timestamps carry seven fractional digits: ``2016-11-20T18:23:45.9356913Z``."""
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def parse_iso(value: str) -> float:
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Python 3.11 accepts at most 6 fractional digits; Graph clients send 7.
    head, dot, tail = text.partition(".")
    if dot:
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def new_guid() -> str:
    return str(uuid.uuid4())


def exchange_id(prefix: str = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A") -> str:
    """An opaque, URL-safe id shaped like Exchange's immutable ids (they stay stable on moves)."""
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=") + "AAA="


def change_key() -> str:
    return "CQAAABYAAA" + base64.b64encode(secrets.token_bytes(12)).decode()


def graph_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None,
    inner: dict[str, Any] | None = None,
) -> GraphResponse:
    """Graph's error body: ``{"error": {"code", "message", "innerError": {date, request-id, …}}}``."""
    request_id = new_guid()
    inner_error = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": request_id,
        **(inner or {}),
    }
    body = {"error": {"code": code, "message": message, "innerError": inner_error}}
    return GraphResponse(status, body, dict(headers or {}))


def not_found(message: str = "The specified object was not found in the store.") -> GraphResponse:
    return graph_error(404, "ErrorItemNotFound", message)


def bad_request(message: str, code: str = "BadRequest") -> GraphResponse:
    return graph_error(400, code, message)


def odata_key(value: str) -> str:
    """How Graph writes a key inside ``@odata.context``/``@odata.id`` paths."""
    return quote(value, safe="@.-_")
