"""The JSON API's archive imports: upload an archive (streamed to the import spool, a worker imports it), read an
import's progress and result, list the company's imports. The console's page is `routes.import_console`.

`POST /api/v1/imports` takes multipart/form-data (`curl -F file=@2019.mbox`, several files allowed) or a raw
body whose Content-Type names the format (`curl --data-binary @2019.mbox -H 'Content-Type: application/mbox'`);
`?mailbox=` reads the archive as that user's mailbox instead of as mail sent to the dropbox.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from connector.errors import InputError
from connector.services import import_jobs
from connector.services.import_spool import CONTENT_TYPES
from connector.web.deps import ApiCaller, Context, DbSession
from connector.web.errors import missing_as_404
from connector.web.uploads import receive_upload

router = APIRouter(prefix="/api/v1", tags=["imports"], responses={401: {"description": "Missing or invalid token"}})

_BODIES = {"multipart/form-data": {"schema": {"type": "object", "properties": {
    "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
    "mailbox": {"type": "string"}}}}} | {kind: {"schema": {"type": "string", "format": "binary"}}
                                         for kind in CONTENT_TYPES}


class ImportOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 7, "state": "running", "filename": "2019.mbox", "bytes": 52428800, "mailbox": "",
        "created_by": "API token Practice sync", "created_at": "2026-03-10T09:00:00+00:00",
        "started_at": "2026-03-10T09:00:02+00:00", "finished_at": None, "total": 12000, "done": 4800,
        "percent": 40, "rate_per_second": 412.5, "eta_seconds": 17.5,
        "summary": {"filed": {"addressed": 3100, "thread": 1200}, "unassigned": {"no_matching_contact": 310},
                    "refused": {"unauthorized_sender": 180}, "unreadable": {"unparseable": 10}},
        "unreadable": [{"message": "2019.mbox#1733", "reason": "unparseable: no header block"}], "error": ""}]})
    id: int
    state: str = Field(description="pending, running, done or failed")
    filename: str
    bytes: int
    mailbox: str = Field(description="read as this user's mailbox; empty: as mail sent to the dropbox")
    created_by: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    total: int | None = Field(description="messages in the upload (counted when the import starts)")
    done: int = Field(description="messages read so far")
    percent: int | None
    rate_per_second: float | None
    eta_seconds: float | None
    summary: dict[str, dict[str, int]] = Field(
        description="filed, unassigned, refused, ignored, unreadable → reason → messages")
    unreadable: list[dict[str, str]] = Field(description="each unreadable message (the first 1,000) and why")
    error: str

    @classmethod
    def of(cls, found: import_jobs.JobStatus) -> ImportOut:
        job = found.job
        assert job.id is not None
        return cls(id=job.id, state=job.state, filename=job.filename, bytes=job.bytes, mailbox=job.mailbox,
                   created_by=job.created_by, created_at=job.created_at.isoformat(),
                   started_at=_iso(job.started_at), finished_at=_iso(job.finished_at), total=job.total,
                   done=found.done, percent=found.percent, rate_per_second=found.rate, eta_seconds=found.eta_seconds,
                   summary=found.outcomes, unreadable=job.result.get("unreadable", []), error=job.error)


def _iso(moment: object) -> str | None:
    return None if moment is None else moment.isoformat()  # type: ignore[attr-defined]


@router.post("/imports", response_model=ImportOut, status_code=202, summary="Upload an archive to import",
             openapi_extra={"requestBody": {"required": True, "content": _BODIES}},
             responses={413: {"description": "Larger than imports.max_upload_bytes"},
                        415: {"description": "Not multipart and not a known archive type"},
                        422: {"description": "Not an archive format, or an unknown mailbox"}})
async def create_import(request: Request, session: DbSession, who: ApiCaller, context: Context) -> ImportOut:
    upload, fields = await receive_upload(request, context.settings.imports)

    def create() -> ImportOut:
        mailbox = fields.get("mailbox") or request.query_params.get("mailbox", "")
        job = import_jobs.create_job(session, who.tenant, upload, "api", f"API token {who.token_name}", mailbox)
        session.commit()
        return ImportOut.of(import_jobs.status(session, job, context.clock()))
    try:
        return await run_in_threadpool(create)
    except InputError as exc:
        upload.discard()
        raise HTTPException(422, str(exc)) from exc


@router.get("/imports", response_model=list[ImportOut], summary="The company's imports, newest first")
def list_imports(session: DbSession, who: ApiCaller, context: Context,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[ImportOut]:
    now = context.clock()
    return [ImportOut.of(import_jobs.status(session, job, now))
            for job in import_jobs.list_jobs(session, who.tenant, limit)]


@router.get("/imports/{import_id}", response_model=ImportOut, responses={404: {"description": "No such import"}},
            summary="One import: progress (done of total, rate, time left) and result by reason")
def get_import(import_id: int, session: DbSession, who: ApiCaller, context: Context) -> ImportOut:
    with missing_as_404():
        job = import_jobs.get_job(session, who.tenant, import_id)
    return ImportOut.of(import_jobs.status(session, job, context.clock()))
