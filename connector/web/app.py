"""The FastAPI application: webhooks, health, metrics, the console (server-rendered) and the JSON API.

Assembles the app from an AppContext: the routers are module-level and shared by every app; the
context, on `app.state`, is what makes one app differ from another (see `deps`).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from connector.config import Mode
from connector.web import form_post
from connector.web.api_docs import install_api_docs
from connector.web.context import AppContext
from connector.web.errors import install_error_pages
from connector.web.input_guard import InputGuard
from connector.web.middleware import SecurityHeaders
from connector.web.rate_limit import RateLimit
from connector.web.routes import (
    admin,
    admin_webhooks,
    api,
    api_events,
    api_retention,
    api_sync,
    api_walls,
    audit,
    exports,
    import_console,
    imports,
    inbound,
    mailboxes,
    me,
    ops,
    quarantine,
    records,
    retention,
    signin,
    unassigned,
    walls,
    webhooks,
)
from connector.web.security import SESSION_COOKIE, SESSION_MAX_AGE, session_secret
from connector.web.templating import HERE


def create_app(context: AppContext) -> FastAPI:
    app = FastAPI(title="bcc-capture", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Email capture: the JSON API (`/api/v1`, per-company bearer tokens), webhooks "
                              "and health. The console itself is server-rendered HTML.")
    app.state.context = context
    settings = context.settings
    secure = settings.mode is Mode.PRODUCTION or (context.public_url or "").startswith("https:")
    app.add_middleware(InputGuard)  # inside the session middleware: its console error page shows who is signed in
    app.add_middleware(SessionMiddleware, secret_key=session_secret(settings), session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE, same_site="lax", https_only=secure)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RateLimit, limits=settings.limits)  # outermost: refused before any other work
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (webhooks, inbound, api, form_post, signin, me, mailboxes, records, unassigned, quarantine, audit,
                   admin, ops):
        app.include_router(module.router)
    for module in (imports, import_console):  # archive imports: the API's and Admin → Imports
        app.include_router(module.router)
    for module in (api_sync, api_events, admin_webhooks):  # the host system: its ids, event webhooks
        app.include_router(module.router)
    for router in (api_retention.router, retention.router, exports.api, exports.console):  # keeping and erasing
        app.include_router(router)
    for module in (api_walls, walls):  # ethical walls and who sees which mail
        app.include_router(module.router)
    install_api_docs(app)
    mailboxes.include_consent_callbacks(app, settings)
    install_error_pages(app)
    return app
