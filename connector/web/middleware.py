"""Which paths machines call (JSON answers, no console headers) and the console's security headers."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MACHINE_PATHS = ("/api/", "/webhooks/", "/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")
# Mail HTML is shown in sandboxed iframes, which inherit this policy: no scripts, no remote images (trackers).
CONSOLE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "frame-src 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'")


def is_machine_path(path: str) -> bool:
    return path.startswith(MACHINE_PATHS)


class SecurityHeaders:
    """CSP, no framing, no sniffing, no caching of private pages (the console); no caching of API answers either,
    which carry a company's mail (the other machine paths keep their own headers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith("/api/"):
            extra = {b"cache-control": b"no-store"}
        elif is_machine_path(path):
            await self.app(scope, receive, send)
            return
        else:
            extra = {b"content-security-policy": CONSOLE_CSP.encode(), b"x-content-type-options": b"nosniff",
                     b"x-frame-options": b"DENY", b"referrer-policy": b"same-origin"}
            if not path.startswith("/static/"):
                extra[b"cache-control"] = b"no-store"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                headers.extend((k, v) for k, v in extra.items() if k not in present)
            await send(message)

        await self.app(scope, receive, with_headers)
