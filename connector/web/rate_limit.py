"""Requests per client address and minute, per area: one noisy or hostile client cannot exhaust the server.

Areas and their defaults live in settings (`limits`): sign-in and OAuth callbacks, the JSON API, provider
webhooks, the inbound-mail services and the console. Over the limit a request is answered 429 with
Retry-After before any route or database work, counted in metrics and sampled into the audit
(`services.rejections`). Behind a reverse proxy, run uvicorn with the proxy's address trusted
(`--forwarded-allow-ips`) so the client address is the caller's, not the proxy's.
"""

from __future__ import annotations

import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from connector.config import LimitSettings
from connector.services import rejections

_AREAS = (("/webhooks/inbound/", "inbound"), ("/webhooks/", "webhooks"), ("/api/", "api"), ("/signin", "signin"),
          ("/oauth/", "signin"), ("/admin/access/callback", "signin"))
_UNLIMITED = ("/healthz", "/readyz", "/metrics", "/static/", "/docs/assets/")


def area_of(path: str) -> str | None:
    if path.startswith(_UNLIMITED):
        return None
    return next((area for prefix, area in _AREAS if path.startswith(prefix)), "console")


class RateLimit:
    def __init__(self, app: ASGIApp, limits: LimitSettings) -> None:
        self.app = app
        self.per_minute = limits.model_dump()
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        area = area_of(scope["path"]) if scope["type"] == "http" else None
        allowed = self.per_minute.get(area or "", 0)
        if area is None or allowed <= 0:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        item = RateLimitItemPerMinute(allowed)
        if self.limiter.hit(item, area, client):
            await self.app(scope, receive, send)
            return
        reset = self.limiter.get_window_stats(item, area, client).reset_time
        engine = scope["app"].state.context.engine
        await run_in_threadpool(rejections.record, engine, area, "rate_limited", f"{client} {scope['path']}",
                                action=rejections.REQUEST)
        retry = str(max(1, int(reset - time.time()) + 1))
        answer = (JSONResponse({"error": "too many requests"}, 429, headers={"Retry-After": retry})
                  if area != "console" else PlainTextResponse("Too many requests; please wait a moment.", 429,
                                                              headers={"Retry-After": retry}))
        await answer(scope, receive, send)
