"""A slow and flaky service: the "slow" fault profile both emulators share (off unless armed).

What the real services do on a bad day, and what each knob reproduces:

* large pages answer slowly. A delta or history page of many records takes 5–30 s on a loaded
  Exchange Online or Gmail backend, which is why Graph lets the client ask for smaller pages
  (``Prefer: odata.maxpagesize``, https://learn.microsoft.com/en-us/graph/delta-query-messages) and Gmail
  takes ``maxResults`` (https://developers.google.com/gmail/api/reference/rest/v1/users.history/list).
  A JSON answer whose longest record list has ``large_from`` records or more waits
  ``5 s + 25 s × min(1, records / full_at)``, times ``time_factor`` (tests use 0.1: 0.5–3 s); smaller
  pages answer at once, so a client that shrinks its pages gets through.
* connections reset mid-body: the status line, the headers (with the whole body's Content-Length) and
  part of the body are sent, then the connection is closed — the "peer closed connection without sending
  complete message body" clients report (e.g. Azure/azure-sdk-for-python#20888, IncompleteReadError).
* long 503 spells: for ``seconds`` every API call answers 503, with or without Retry-After. Graph says a
  503 means "temporarily unavailable … repeat the request after a delay, the length of which may be
  specified in a Retry-After header" (https://learn.microsoft.com/en-us/graph/errors, and
  https://learn.microsoft.com/en-us/graph/throttling for 429/503 and Retry-After); Gmail says to retry 5xx
  (backendError) with exponential backoff (https://developers.google.com/gmail/api/guides/handle-errors).

`SlowService` is pure ASGI middleware over an emulator's app, limited to its API paths; the emulator
supplies the 503 body in its own error shape.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
Unavailable = Callable[[bool], tuple[dict[str, str], bytes]]  # with Retry-After? → headers, JSON body

SLOWEST, FASTEST_SLOW = 30.0, 5.0  # seconds a large page takes at time_factor 1


class ResetMidBody(ConnectionError):
    """Raised inside the server after part of a body went out: uvicorn then closes the connection."""


class _QuietResets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, ResetMidBody) and "without completing response" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_QuietResets())


@dataclass
class SlowProfile:
    """The knobs; `arm` sets them, `clear` turns everything off. Thread-safe; seeded dice."""

    time_factor: float = 0.0  # 0: pages are never slowed
    large_from: int = 20  # records in a page from which it counts as large
    full_at: int = 100  # records at which a page takes the slowest time
    reset_probability: float = 0.0
    spell_until: float = 0.0  # time.monotonic() until which every call answers 503
    spell_retry_after: int | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(0)
        self.slowed = self.resets = self.unavailable = 0  # what it did, for tests and the chaos report

    def arm(self, *, time_factor: float = 0.1, large_from: int = 20, full_at: int = 100,
            reset_probability: float = 0.0, seed: int | None = None) -> None:
        with self._lock:
            self.time_factor, self.large_from, self.full_at = time_factor, large_from, full_at
            self.reset_probability = reset_probability
            if seed is not None:
                self._rng.seed(seed)

    def spell(self, seconds: float, retry_after: int | None = None) -> None:
        """Every API call answers 503 for ``seconds`` of real time from now."""
        with self._lock:
            self.spell_until, self.spell_retry_after = time.monotonic() + seconds, retry_after

    def clear(self) -> None:
        with self._lock:
            self.time_factor, self.reset_probability, self.spell_until = 0.0, 0.0, 0.0

    @property
    def armed(self) -> bool:
        return self.time_factor > 0 or self.reset_probability > 0 or self.spell_until > time.monotonic()

    def in_spell(self) -> tuple[bool, int | None]:
        with self._lock:
            down = time.monotonic() < self.spell_until
            if down:
                self.unavailable += 1
            return down, self.spell_retry_after

    def delay_for(self, records: int) -> float:
        """Seconds a page of ``records`` records takes to answer."""
        if self.time_factor <= 0 or records < self.large_from:
            return 0.0
        with self._lock:
            self.slowed += 1
        share = min(1.0, records / max(self.full_at, 1))
        return self.time_factor * (FASTEST_SLOW + (SLOWEST - FASTEST_SLOW) * share)

    def resets_now(self) -> bool:
        with self._lock:
            hit = self.reset_probability > 0 and self._rng.random() < self.reset_probability
            self.resets += int(hit)
            return hit


def records_in(body: bytes) -> int:
    """The length of the longest record list in a JSON answer; a JSON `$batch` answer sums its items'."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return 0  # MIME, multipart batches: not pages
    if not isinstance(data, dict):
        return 0
    responses = data.get("responses")
    if isinstance(responses, list):
        return sum(records_in(json.dumps(r.get("body")).encode()) for r in responses if isinstance(r, dict))
    return max((len(v) for v in data.values() if isinstance(v, list)), default=0)


class SlowService:
    """ASGI middleware: the profile's delays, resets and 503 spells on paths under ``prefixes``."""

    def __init__(self, app: App, profile: SlowProfile, prefixes: tuple[str, ...], unavailable: Unavailable) -> None:
        self.app, self.profile, self.prefixes, self.unavailable = app, profile, prefixes, unavailable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.prefixes) or not self.profile.armed:
            await self.app(scope, receive, send)
            return
        down, retry_after = self.profile.in_spell()
        if down:
            headers, body = self.unavailable(retry_after is not None)
            if retry_after is not None:
                headers = {**headers, "Retry-After": str(retry_after)}
            await _send(send, 503, [(k.lower().encode(), v.encode()) for k, v in headers.items()], body)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, hold)
        body = b"".join(chunks)
        pause = self.profile.delay_for(records_in(body)) if start.get("status") == 200 else 0.0
        if pause:
            await asyncio.sleep(pause)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        if len(body) > 1 and self.profile.resets_now():
            await send({"type": "http.response.start", "status": start["status"], "headers": headers})
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise ResetMidBody("the emulator closed the connection mid-body (slow profile)")
        await send({"type": "http.response.start", "status": start.get("status", 500), "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-type", b"application/json; charset=UTF-8"),
               (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
