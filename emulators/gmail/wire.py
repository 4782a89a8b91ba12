"""Request/response values passed between the HTTP layer, the batch endpoint and the API handlers,
plus Google's JSON error envelope.

The handlers never see Starlette objects: `batch.py` replays sub-requests through the very same
`GmailApi.handle()` that serves single calls, so both paths answer byte-for-byte alike.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

JSON_TYPE = "application/json; charset=UTF-8"

# google.rpc.Code names Google puts in error.status, by HTTP status.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass
class ApiRequest:
    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @classmethod
    def build(cls, method: str, path: str, query_string: str, headers: dict[str, str], body: bytes):
        return cls(
            method=method.upper(),
            path=path,
            query=parse_qsl(query_string, keep_blank_values=True),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
        )

    def param(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return default

    def params(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, f"Invalid JSON payload received. {exc}", "parseError") from exc
        if not isinstance(value, dict):
            raise ApiError(400, "Invalid JSON payload received. Expected an object.", "parseError")
        return value


@dataclass
class ApiResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None):
        body = json.dumps(payload, indent=2).encode()
        return cls(status, body, {"Content-Type": JSON_TYPE, **(headers or {})})

    @classmethod
    def empty(cls, status: int = 204):
        return cls(status, b"", {})


class ApiError(Exception):
    """A Google-style API error; `to_response()` renders the JSON envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        reason: str,
        *,
        domain: str = "global",
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        details: list[dict[str, Any]] | None = None,
        status_name: str | None = None,
        item_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.domain = domain
        self.headers = headers or {}
        self.extra = extra or {}
        self.details = details
        self.status_name = status_name or STATUS_NAMES.get(status, "UNKNOWN")
        self.item_message = item_message or message  # errors[0].message may differ (401s do)

    def payload(self) -> dict[str, Any]:
        item = {"message": self.item_message, "domain": self.domain, "reason": self.reason, **self.extra}
        error: dict[str, Any] = {
            "code": self.status,
            "message": self.message,
            "errors": [item],
            "status": self.status_name,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def to_response(self) -> ApiResponse:
        return ApiResponse.json(self.payload(), self.status, self.headers)


def not_found() -> ApiError:
    return ApiError(404, "Requested entity was not found.", "notFound")


def invalid(message: str, reason: str = "invalidArgument") -> ApiError:
    return ApiError(400, message, reason)


def b64url(data: bytes) -> str:
    """URL-safe base64 with padding, as Google's JSON mapping renders `bytes` fields."""
    return base64.urlsafe_b64encode(data).decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Accept both alphabets, with or without padding (Google's parsers are lenient too)."""
    cleaned = text.strip().replace("+", "-").replace("/", "_")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.urlsafe_b64decode(cleaned)
    except (binascii.Error, ValueError) as exc:
        raise invalid(f"Invalid value for ByteString: {text[:40]}") from exc
