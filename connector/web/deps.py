"""The dependencies routes declare in their signatures: the app's context and settings, one database
session per request, the console's signed-in user (or administrator), and the API token's company."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from connector.config import Settings
from connector.models import Tenant
from connector.services import api_tokens, permissions, users
from connector.web.context import AppContext, app_context
from connector.web.security import SignInRequired, Viewer


async def request_context(request: Request) -> AppContext:
    """`app_context` as a dependency; async, so reaching it costs no thread hop (the webhooks answer on deadlines)."""
    return app_context(request)


Context = Annotated[AppContext, Depends(request_context)]


async def app_settings(context: Context) -> Settings:
    return context.settings


AppSettings = Annotated[Settings, Depends(app_settings)]


def db_session(context: Context) -> Iterator[Session]:
    """One session for the whole request, shared by the dependencies and the route.

    Writes commit explicitly (`forms.submit_form`, the API's write routes); anything uncommitted rolls back
    when the session closes. Objects stay loaded after a commit, so a reply can still read them.
    """
    with Session(context.engine, expire_on_commit=False) as session:
        yield session


DbSession = Annotated[Session, Depends(db_session)]


# ------------------------------------------------------------------------------------------ console
def current_viewer(request: Request, session: DbSession) -> Viewer:
    """The signed-in user, re-read on every request so a deleted or deactivated user, or a session ended
    server-side (signed out, role changed), is out at once.

    Anonymous → SignInRequired, which the app answers with a redirect to /signin (and back afterwards).
    """
    uid = request.session.get("uid")
    if isinstance(uid, int):
        found = users.active_user_and_tenant(session, uid, request.session.get("epoch"))
        if found is not None:
            user, tenant = found
            return Viewer(user, tenant, permissions.is_admin(session, user))
        request.session.clear()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise SignInRequired(path if request.method == "GET" else "/")


CurrentUser = Annotated[Viewer, Depends(current_viewer)]


def current_admin(who: CurrentUser) -> Viewer:
    if not who.admin:
        raise HTTPException(403, "Only administrators can open this page.")
    return who


Admin = Annotated[Viewer, Depends(current_admin)]


# ------------------------------------------------------------------------------------------ JSON API
bearer = HTTPBearer(auto_error=False, description="A company's API token (Admin → API tokens in the console)")


@dataclass(frozen=True)
class Caller:
    tenant: Tenant
    token_name: str


def api_caller(session: DbSession, context: Context,
               credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]) -> Caller:
    """The company whose token authorized the call; anything else is a 401 naming the expected header."""
    unauthorized = HTTPException(401, "a valid API token is required: Authorization: Bearer bcc_…",
                                 headers={"WWW-Authenticate": 'Bearer realm="bcc-capture"'})
    if credentials is None:
        raise unauthorized
    found = api_tokens.tenant_for_token(session, credentials.credentials, context.clock())
    if found is None:
        raise unauthorized
    session.commit()  # the token's last use, even when the call itself only reads
    tenant, token = found
    return Caller(tenant, token.name)


ApiCaller = Annotated[Caller, Depends(api_caller)]
