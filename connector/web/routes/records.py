"""Records and their Communications tab, attachments, and unlogging a mistake."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from connector.errors import InputError
from connector.models import RecordKind
from connector.services import access_log, activities, records, views, visibility_policy
from connector.services.communications import message_row, shown
from connector.web.deps import AppSettings, CurrentUser, DbSession
from connector.web.downloads import attachment_download
from connector.web.errors import missing_as_404
from connector.web.forms import submit_form
from connector.web.readers import ConsoleReader
from connector.web.security import csrf_guard, safe_next
from connector.web.templating import render_page

RECORD_KINDS = tuple(kind.value for kind in RecordKind)

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])


@router.get("/records")
def records_page(request: Request, session: DbSession, who: CurrentUser, reader: ConsoleReader, kind: str = "",
                 q: str = "") -> Response:
    try:
        found = records.find_records(session, who.tenant, kind or None, q, reader=reader)
    except InputError:  # an unknown kind in the URL: show every kind
        found, kind = records.find_records(session, who.tenant, None, q, reader=reader), ""
    return render_page(request, "records.html", who, records=found, kind=kind, q=q, kinds=RECORD_KINDS)


@router.get("/records/{record_id}")
def record_page(record_id: int, request: Request, session: DbSession, who: CurrentUser, reader: ConsoleReader,
                settings: AppSettings, q: str = "", page: int = 1, after: str = "", before: str = "") -> Response:
    with missing_as_404():
        record = records.get_record(session, who.tenant, record_id, reader)
    found = views.communications_page(session, who.tenant, record, query=q, page=page, after=after, before=before,
                                      reader=reader)
    access_log.viewed(session, who.tenant.id, who.user.email, shown(found.threads), "console", record_id=record_id)
    session.commit()
    return render_page(request, "record.html", who, record=record, customer=records.customer_of(session, record),
                       threads=found.threads, address=records.record_address(record, who.tenant, settings),
                       messages=found.messages, page=found.page, pages=found.pages, q=q, newer=found.newer,
                       older=found.older)


@router.get("/attachments/{attachment_id}")
def download(attachment_id: int, session: DbSession, who: CurrentUser, reader: ConsoleReader,
             settings: AppSettings) -> Response:
    return attachment_download(session, settings, who.tenant, attachment_id, reader, by=who.user.email,
                               via="console")


@router.get("/activities/{activity_id}")
def activity_page(activity_id: int, request: Request, session: DbSession, who: CurrentUser,
                  reader: ConsoleReader) -> Response:
    """One e-mail, and who sees it: its owner (or an administrator) may change that."""
    with missing_as_404():
        activity = activities.get_activity(session, who.tenant, activity_id, reader)
    row = message_row(session, activity)
    access_log.viewed(session, who.tenant.id, who.user.email, [(row.activity_id, row.internet_message_id)], "console")
    session.commit()
    return render_page(request, "activity.html", who, msg=row, described=visibility_policy.DESCRIBED,
                       company_default=reader.company_default.value,
                       can_change=who.admin or activity.owner_user_id == who.user.id)


@router.post("/activities/{activity_id}/visibility")
def set_visibility(activity_id: int, request: Request, session: DbSession, who: CurrentUser, reader: ConsoleReader,
                   visibility: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        visibility_policy.set_activity_visibility(session, who.tenant, activity_id, visibility, reader=reader,
                                                  by=who.user.email)
        wanted = visibility_policy.parse(visibility, allow_policy=True)
        return ("This e-mail follows the company's policy again." if wanted is None
                else f"This e-mail is now visible to {visibility_policy.DESCRIBED[wanted.value]}.")
    return submit_form(request, session, f"/activities/{activity_id}", work, missing_is_404=True)


@router.get("/activities/{activity_id}/unlog")
def confirm_unlog(activity_id: int, request: Request, session: DbSession, who: CurrentUser, reader: ConsoleReader,
                  back: str = "") -> Response:
    with missing_as_404():
        activity = activities.get_activity(session, who.tenant, activity_id, reader)
    return render_page(request, "unlog.html", who, activity=activity, back=safe_next(back))


@router.post("/activities/{activity_id}/unlog")
def unlog(activity_id: int, request: Request, session: DbSession, who: CurrentUser,
          back: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        activity = activities.unlog(session, who.tenant, activity_id, who.user.email, who.user)
        return f"“{activity.subject}” is no longer logged. The audit keeps a note of it."
    return submit_form(request, session, safe_next(back), work, missing_is_404=True)
