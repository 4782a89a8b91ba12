"""Admin → Imports: an administrator uploads an archive (.eml, .msg, .mbox, or a .zip of them), watches its
progress (messages done of the total, rate, time left; the page refreshes itself) and reads the result: filed,
unassigned, refused and unreadable, each with its reason. A worker does the import (`services.import_runner`).

The upload is streamed to disk (`web.uploads`), so this router does not use the form-reading `csrf_guard`: the
form's CSRF token, which the page puts before the file field, is checked before a byte of the file is stored.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from connector.errors import InputError
from connector.models import ImportState
from connector.services import import_jobs
from connector.web.deps import Admin, Context, DbSession
from connector.web.errors import missing_as_404
from connector.web.security import flash
from connector.web.templating import render_page
from connector.web.uploads import receive_upload

router = APIRouter(include_in_schema=False)
REFRESH_SECONDS = 2


@router.get("/admin/imports")
def imports_page(request: Request, session: DbSession, who: Admin, context: Context) -> Response:
    now = context.clock()
    rows = [import_jobs.status(session, job, now) for job in import_jobs.list_jobs(session, who.tenant)]
    return render_page(request, "admin_imports.html", who, rows=rows,
                       limit=context.settings.imports.max_upload_bytes)


@router.post("/admin/imports")
async def upload(request: Request, session: DbSession, who: Admin, context: Context) -> Response:
    expected = str(request.session.get("csrf", ""))

    def same_site(fields: dict[str, str]) -> None:
        if not expected or not hmac.compare_digest(fields.get("csrf", ""), expected):
            raise HTTPException(403, "This form has expired or did not come from this site. Reload the page and "
                                     "try again.")
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        same_site({k: v for k, v in (await request.form()).items() if isinstance(v, str)})  # not the upload form
        raise HTTPException(415, "Send the archive with the upload form (multipart/form-data).")
    stored, fields = await receive_upload(request, context.settings.imports, before_file=same_site)
    same_site(fields)  # a form with no file part at all

    def create() -> int:
        job = import_jobs.create_job(session, who.tenant, stored, "console", who.user.email, fields.get("mailbox", ""))
        session.commit()
        assert job.id is not None
        return job.id
    try:
        job_id = await run_in_threadpool(create)
    except InputError as exc:
        stored.discard()
        flash(request, str(exc)[:1].upper() + str(exc)[1:], "error")
        return RedirectResponse("/admin/imports", 303)
    flash(request, f"Uploaded {stored.written:,} bytes. A worker imports them now; this page follows it.")
    return RedirectResponse(f"/admin/imports/{job_id}", 303)


@router.get("/admin/imports/{import_id}")
def import_page(import_id: int, request: Request, session: DbSession, who: Admin, context: Context) -> Response:
    with missing_as_404():
        job = import_jobs.get_job(session, who.tenant, import_id)
    found = import_jobs.status(session, job, context.clock())
    going = job.state in (ImportState.PENDING, ImportState.RUNNING)
    return render_page(request, "admin_import.html", who, s=found, job=job, groups=import_jobs.GROUPS,
                       refresh=REFRESH_SECONDS if going else None)
