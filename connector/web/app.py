"""The FastAPI application: webhooks, health, metrics, the console (server-rendered) and the JSON API.

Assembles the app from an AppContext.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.config import Mode
from connector.db import require_migrated
from connector.errors import DatabaseNotMigrated
from connector.web import api, signin, webhooks
from connector.web.context import AppContext
from connector.web.pages import admin, mailboxes, me, records
from connector.web.security import SESSION_COOKIE, SESSION_MAX_AGE, SignInRequired, session_secret
from connector.web.templating import HERE, render

MACHINE_PATHS = ("/api/", "/webhooks/", "/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json")
# Mail HTML is shown in sandboxed iframes, which inherit this policy: no scripts, no remote images (trackers).
CONSOLE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "frame-src 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'")


def _is_machine(path: str) -> bool:
    return path.startswith(MACHINE_PATHS)


class SecurityHeaders:
    """CSP, no framing, no sniffing, no caching of private pages (the console only; Swagger UI needs its CDN)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_machine(scope["path"]):
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                extra = {b"content-security-policy": CONSOLE_CSP.encode(), b"x-content-type-options": b"nosniff",
                         b"x-frame-options": b"DENY", b"referrer-policy": b"same-origin"}
                if not static:
                    extra[b"cache-control"] = b"no-store"
                headers.extend((k, v) for k, v in extra.items() if k not in present)
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(context: AppContext) -> FastAPI:
    app = FastAPI(title="bcc-capture", version="0.1.0",
                  description="Email capture: the JSON API (`/api/v1`, per-company bearer tokens), webhooks "
                              "and health. The console itself is server-rendered HTML.")
    app.state.context = context
    settings = context.settings
    secure = settings.mode is Mode.PRODUCTION or (context.public_url or "").startswith("https:")
    app.add_middleware(SessionMiddleware, secret_key=session_secret(settings), session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE, same_site="lax", https_only=secure)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(webhooks.router(context))
    app.include_router(api.router())
    app.include_router(signin.router())
    app.include_router(me.router())
    callbacks = {name: getattr(settings, name).redirect_path for name in ("graph", "gmail")}
    app.include_router(mailboxes.router(callbacks))
    app.include_router(records.router())
    app.include_router(admin.router())
    _error_pages(app)

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        return RedirectResponse("/records" if isinstance(request.session.get("uid"), int) else "/signin", 303)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz() -> Response:
        try:
            with context.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            require_migrated(context.engine)
        except DatabaseNotMigrated as exc:
            return JSONResponse({"status": "not ready", "reason": str(exc)}, status_code=503)
        except Exception as exc:  # any database failure means not ready
            return JSONResponse({"status": "not ready", "reason": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["ops"])
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def _error_pages(app: FastAPI) -> None:
    """Machines get FastAPI's JSON errors; people get a page (and a sign-in redirect when signed out)."""

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        target = "/signin" if exc.next_path == "/" else f"/signin?next={quote(exc.next_path, safe='/')}"
        return RedirectResponse(target, 303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_machine(request.url.path):
            return await http_exception_handler(request, exc)
        titles = {403: "Not allowed", 404: "Not found", 405: "Not allowed"}
        message = exc.detail if exc.status_code != 404 else "There is nothing here."
        return render(request, "error.html", None, exc.status_code, title=titles.get(exc.status_code, "Error"),
                      message=message, signed_in=isinstance(request.session.get("uid"), int))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        if _is_machine(request.url.path):
            return await request_validation_exception_handler(request, exc)
        # A malformed id in a console URL is, for a person, just a page that does not exist.
        return render(request, "error.html", None, 404, title="Not found", message="There is nothing here.",
                      signed_in=isinstance(request.session.get("uid"), int))
