"""The unassigned list (F12): mail no record claimed, and linking it to contacts a user picks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from connector.services import unassigned, views
from connector.web.deps import AppSettings, CurrentUser, DbSession
from connector.web.errors import missing_as_404
from connector.web.forms import submit_form
from connector.web.security import csrf_guard
from connector.web.templating import render_page

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])


@router.get("/unassigned")
def unassigned_page(request: Request, session: DbSession, who: CurrentUser) -> Response:
    return render_page(request, "unassigned.html", who, rows=views.unassigned(session, who.tenant))


@router.post("/unassigned/{unassigned_id}/link")
def link(unassigned_id: int, request: Request, session: DbSession, who: CurrentUser, settings: AppSettings,
         contacts: Annotated[list[str] | None, Form()] = None, other: Annotated[str, Form()] = "") -> Response:
    """Link to the contacts ticked and those typed in (comma- or semicolon-separated), each once."""
    typed = other.replace(";", ",").split(",")
    emails = list(dict.fromkeys(e.strip().lower() for e in [*(contacts or []), *typed] if e.strip()))
    with missing_as_404():
        unassigned.get_unassigned(session, who.tenant, unassigned_id)

    def work() -> str:
        unassigned.link(session, who.tenant, unassigned_id, emails, settings, by=who.user)
        return f"Linked to {', '.join(emails)}."
    return submit_form(request, session, "/unassigned", work)
