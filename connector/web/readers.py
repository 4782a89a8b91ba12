"""Who reads, as the visibility filter needs it: the console's signed-in user, or an API token — the company
itself, or the user it acts for (`X-Acting-User`) when a host system shows mail to one of its users."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException
from sqlmodel import select

from connector.models import User
from connector.services.permissions import is_admin
from connector.services.visibility import COMPANY, Reader, company_visibility
from connector.web.deps import ApiCaller, CurrentUser, DbSession

ACTING_USER = "X-Acting-User"


def console_reader(session: DbSession, who: CurrentUser) -> Reader:
    return Reader(who.user.id, who.admin, company_visibility(session, who.tenant.id), who.user.email)


ConsoleReader = Annotated[Reader, Depends(console_reader)]


def api_reader(session: DbSession, who: ApiCaller, acting: Annotated[str | None, Header(
        alias=ACTING_USER, description="The login of the user the call reads for: the answer then holds only "
                                       "what they may see (ethical walls, visibility). Without it the token reads "
                                       "as the company.")] = None) -> Reader:
    if not acting:
        return COMPANY
    user = session.exec(select(User).where(User.tenant_id == who.tenant.id,
                                           User.email == acting.strip().lower())).first()
    if user is None or not user.active:
        raise HTTPException(422, f"{ACTING_USER}: no active user {acting.strip()!r} in this company")
    return Reader(user.id, is_admin(session, user), company_visibility(session, who.tenant.id), user.email)


ApiReader = Annotated[Reader, Depends(api_reader)]


def api_by(who: ApiCaller, reader: Reader) -> str:
    """How the audit names an API call: the token, and the user it acted for."""
    return f"API token {who.token_name}" + (f" for {reader.email}" if reader.email else "")
