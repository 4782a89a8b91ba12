"""Quarantined mail in the console: what the user it claims to come from (or an administrator) may release or delete.

Dropbox mail whose sender did not authenticate, and mail nothing could read, wait here with their reason and
the authentication verdict; releasing files the message as if it had authenticated, deleting drops its bytes.
Both are audited (`services.quarantine`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from connector.services import quarantine
from connector.web.deps import AppSettings, CurrentUser, DbSession
from connector.web.errors import missing_as_404
from connector.web.forms import submit_form
from connector.web.security import csrf_guard
from connector.web.templating import render_page

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])


@router.get("/quarantine")
def quarantine_page(request: Request, session: DbSession, who: CurrentUser) -> Response:
    return render_page(request, "quarantine.html", who, rows=quarantine.visible_to(session, who.user),
                       is_admin=who.admin)


@router.post("/quarantine/{quarantine_id}/release")
def release(quarantine_id: int, request: Request, session: DbSession, who: CurrentUser,
            settings: AppSettings) -> Response:
    user = who.user
    with missing_as_404():
        quarantine.get_visible(session, user, quarantine_id)

    def work() -> str:
        applied = quarantine.release(session, user, quarantine_id, settings)
        return f"Released: {applied.outcome.value} ({applied.reason.value})."
    return submit_form(request, session, "/quarantine", work)


@router.post("/quarantine/{quarantine_id}/delete")
def delete(quarantine_id: int, request: Request, session: DbSession, who: CurrentUser) -> Response:
    user = who.user
    with missing_as_404():
        quarantine.get_visible(session, user, quarantine_id)

    def work() -> str:
        quarantine.delete(session, user, quarantine_id)
        return "Deleted: the message's bytes are gone; the audit keeps the receipt."
    return submit_form(request, session, "/quarantine", work)
