"""The audit: why mail was or was not logged. Administrators see the company's; a user what concerns them."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from connector.services import views
from connector.web.deps import CurrentUser, DbSession
from connector.web.readers import ConsoleReader
from connector.web.security import csrf_guard
from connector.web.templating import render_page

AUDIT_ACTIONS = ("refused", "unassigned", "unlogged", "linked", "logged", "duplicate", "webhook_rejected",
                 "activity.viewed", "attachment.downloaded", "wall.added", "wall.removed")

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])


@router.get("/audit")
def audit_page(request: Request, session: DbSession, who: CurrentUser, reader: ConsoleReader,
               action: str = "refused", message: str = "") -> Response:
    action = action if action in (*AUDIT_ACTIONS, "all") else "refused"
    entries = views.tenant_audit(session, who.tenant, None if action == "all" else action,
                                 visible_to=None if who.admin else who.user, reader=reader,
                                 message=message.strip() or None)
    return render_page(request, "audit.html", who, entries=entries, action=action, actions=AUDIT_ACTIONS,
                       message=message.strip())
