"""The host system's side of the JSON API: records and users by the host's own ids, and what changed since.

PUT creates (201) or updates (200) idempotently: the same body twice changes nothing and leaves `updated_at`
alone. DELETE archives a record (its mail stays) or deactivates a user. Lists page with a cursor in a `Link`
header (`connector.web.api_paging`) and take `updated_since`. Every change is in the audit log, by token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from connector.models import RecordKind
from connector.services import host_records, host_users
from connector.services.records import record_address
from connector.web.api_host_models import RecordIn, UserIn, UserOut
from connector.web.api_models import RecordOut
from connector.web.api_paging import NEXT_LINK, Cursor, Limit, Since, answered_as_http, link_next
from connector.web.deps import ApiCaller, AppSettings, Context, DbSession

router = APIRouter(prefix="/api/v1", tags=["host system"],
                   responses={401: {"description": "Missing or invalid token"}})
PUT_ANSWERS: dict[int | str, dict[str, object]] = {
    201: {"description": "Created", "model": RecordOut}, 404: {"description": "No such thing in this company"},
    409: {"description": "A number or address another record holds"}, 422: {"description": "Invalid fields"}}
ExternalId = Annotated[str, "the host system's id"]


def _by(who: ApiCaller) -> str:
    return f"API token {who.token_name}"


@router.put("/records/{kind}/{external_id}", response_model=RecordOut, responses=PUT_ANSWERS,
            summary="Create or update a record by the host system's id (idempotent)")
def put_record(kind: RecordKind, external_id: ExternalId, body: RecordIn, response: Response, session: DbSession,
               who: ApiCaller, settings: AppSettings, context: Context) -> RecordOut:
    with answered_as_http():
        synced = host_records.put_record(session, who.tenant, kind.value, external_id, body.fields(),
                                         context.clock(), _by(who))
    session.commit()
    response.status_code = 201 if synced.created else 200
    return RecordOut.of(synced.record, record_address(synced.record, who.tenant, settings).address)


@router.get("/records/{kind}/{external_id}", response_model=RecordOut, responses=PUT_ANSWERS,
            summary="One record by the host system's id")
def get_record(kind: RecordKind, external_id: ExternalId, session: DbSession, who: ApiCaller,
               settings: AppSettings) -> RecordOut:
    with answered_as_http():
        found = host_records.by_external_id(session, who.tenant, kind.value, external_id)
    return RecordOut.of(found, record_address(found, who.tenant, settings).address)


@router.delete("/records/{kind}/{external_id}", response_model=RecordOut, responses=PUT_ANSWERS,
               summary="Archive a record: out of the lists, its logged mail kept")
def archive_record(kind: RecordKind, external_id: ExternalId, session: DbSession, who: ApiCaller,
                   settings: AppSettings, context: Context) -> RecordOut:
    with answered_as_http():
        synced = host_records.archive_record(session, who.tenant, kind.value, external_id, context.clock(), _by(who))
    session.commit()
    return RecordOut.of(synced.record, record_address(synced.record, who.tenant, settings).address)


@router.get("/users", response_model=list[UserOut], responses={200: {"headers": NEXT_LINK}},
            summary="The company's users, oldest change first, paged")
def users(request: Request, response: Response, session: DbSession, who: ApiCaller, updated_since: Since = None,
          cursor: Cursor = None, limit: Limit = 100) -> list[UserOut]:
    with answered_as_http():
        page = host_users.changed_users(session, who.tenant, updated_since=updated_since, cursor=cursor, limit=limit)
    link_next(request, response, page)
    roles = host_users.role_names(session, who.tenant)
    return [UserOut.of(u, roles) for u in page.items]


@router.put("/users/{external_id}", response_model=UserOut, responses={**PUT_ANSWERS, 201: {
            "description": "Created", "model": UserOut}}, summary="Create or update a user by the host system's id")
def put_user(external_id: ExternalId, body: UserIn, response: Response, session: DbSession, who: ApiCaller,
             context: Context) -> UserOut:
    with answered_as_http():
        synced = host_users.put_user(session, who.tenant, external_id, body.fields(), context.clock(), _by(who))
    session.commit()
    response.status_code = 201 if synced.created else 200
    return UserOut.of(synced.user, host_users.role_names(session, who.tenant))


@router.get("/users/{external_id}", response_model=UserOut, responses=PUT_ANSWERS,
            summary="One user by the host system's id")
def get_user(external_id: ExternalId, session: DbSession, who: ApiCaller) -> UserOut:
    with answered_as_http():
        found = host_users.by_external_id(session, who.tenant, external_id)
    return UserOut.of(found, host_users.role_names(session, who.tenant))


@router.delete("/users/{external_id}", response_model=UserOut, responses=PUT_ANSWERS,
               summary="Deactivate a user: signed out, capture paused, their logged mail kept")
def archive_user(external_id: ExternalId, session: DbSession, who: ApiCaller, context: Context) -> UserOut:
    with answered_as_http():
        synced = host_users.archive_user(session, who.tenant, external_id, context.clock(), _by(who))
    session.commit()
    return UserOut.of(synced.user, host_users.role_names(session, who.tenant))
