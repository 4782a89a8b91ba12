"""Records and their Communications tab, attachments, and unlogging a mistake."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from connector.errors import InputError
from connector.models import RecordKind
from connector.services import activities, records, views
from connector.web.deps import AppSettings, CurrentUser, DbSession
from connector.web.downloads import attachment_download
from connector.web.errors import missing_as_404
from connector.web.forms import submit_form
from connector.web.security import csrf_guard, safe_next
from connector.web.templating import render_page

RECORD_KINDS = tuple(kind.value for kind in RecordKind)

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])


@router.get("/records")
def records_page(request: Request, session: DbSession, who: CurrentUser, kind: str = "", q: str = "") -> Response:
    try:
        found = records.find_records(session, who.tenant, kind or None, q)
    except InputError:  # an unknown kind in the URL: show every kind
        found, kind = records.find_records(session, who.tenant, None, q), ""
    return render_page(request, "records.html", who, records=found, kind=kind, q=q, kinds=RECORD_KINDS)


@router.get("/records/{record_id}")
def record_page(record_id: int, request: Request, session: DbSession, who: CurrentUser,
                settings: AppSettings, q: str = "", page: int = 1) -> Response:
    with missing_as_404():
        record = records.get_record(session, who.tenant, record_id)
    found = views.communications_page(session, who.tenant, record, query=q, page=page)
    return render_page(request, "record.html", who, record=record, customer=records.customer_of(session, record),
                       threads=found.threads, address=records.record_address(record, who.tenant, settings),
                       messages=found.messages, page=found.page, pages=found.pages, q=q)


@router.get("/attachments/{attachment_id}")
def download(attachment_id: int, session: DbSession, who: CurrentUser) -> Response:
    return attachment_download(session, who.tenant, attachment_id)


@router.get("/activities/{activity_id}/unlog")
def confirm_unlog(activity_id: int, request: Request, session: DbSession, who: CurrentUser,
                  back: str = "") -> Response:
    with missing_as_404():
        activity = activities.get_activity(session, who.tenant, activity_id)
    return render_page(request, "unlog.html", who, activity=activity, back=safe_next(back))


@router.post("/activities/{activity_id}/unlog")
def unlog(activity_id: int, request: Request, session: DbSession, who: CurrentUser,
          back: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        activity = activities.unlog(session, who.tenant, activity_id, who.user.email, who.user)
        return f"“{activity.subject}” is no longer logged. The audit keeps a note of it."
    return submit_form(request, session, safe_next(back), work, missing_is_404=True)
