"""The JSON API for ethical walls and for who sees one e-mail (additive to /api/v1; see connector/web/routes/api.py).

Walls are the company's: a token acting for nobody, or for an administrator (`X-Acting-User`), manages them. An
e-mail's visibility is changed by its owner or an administrator (or a token acting for nobody, as the company).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from connector.errors import InputError
from connector.services import visibility_policy, walls
from connector.services.visibility import Reader
from connector.web.deps import ApiCaller, DbSession
from connector.web.errors import missing_as_404
from connector.web.readers import ApiReader, api_by

NOT_FOUND = {404: {"description": "No such thing in this company"}}

router = APIRouter(prefix="/api/v1", tags=["api"], responses={401: {"description": "Missing or invalid token"}})


class WallOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": 4, "record_id": 12, "record": "matter 10802 Smith v. Jones", "user": "bob@acme-law.com",
         "reason": "Acted for the other side in 2024", "created_by": "ada@acme-law.com",
         "created_at": "2026-03-10T09:00:00+00:00"}]})
    id: int
    record_id: int
    record: str = Field(description="the record's kind and label, e.g. 'matter 10802 Smith v. Jones'")
    user: str = Field(description="the walled user's login")
    reason: str
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, row: walls.WallRow) -> WallOut:
        assert row.wall.id is not None and row.record.id is not None
        return cls(id=row.wall.id, record_id=row.record.id, record=f"{row.record.kind} {row.record.label}",
                   user=row.user.email, reason=row.wall.reason, created_by=row.wall.created_by,
                   created_at=row.wall.created_at)


class WallIn(BaseModel):
    record: str = Field(description="matter:NUMBER, project:NUMBER, contact:ADDRESS or #RECORD_ID")
    user: str = Field(description="the login of the user to wall off")
    reason: str = ""


class VisibilityIn(BaseModel):
    visibility: str = Field(description="owner, team, company, or policy (the company's default)")


class VisibilityOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"activity_id": 101, "visibility": "team"}]})
    activity_id: int
    visibility: str = Field(description="owner, team, company, or policy (the company's default applies)")


def _manager(reader: Reader) -> None:
    if reader.user_id is not None and not reader.admin:
        raise HTTPException(403, "only an administrator manages ethical walls")


@router.get("/walls", response_model=list[WallOut], summary="Ethical walls: who never sees which record")
def wall_list(session: DbSession, who: ApiCaller, reader: ApiReader) -> list[WallOut]:
    _manager(reader)
    return [WallOut.of(row) for row in walls.list_walls(session, who.tenant)]


@router.post("/walls", response_model=WallOut, status_code=201, responses=NOT_FOUND,
             summary="Wall a user off a record (audited as 'wall.added')")
def wall_add(body: WallIn, session: DbSession, who: ApiCaller, reader: ApiReader) -> WallOut:
    _manager(reader)
    try:
        with missing_as_404():  # first: NotFound is an InputError too
            row = walls.add_wall(session, who.tenant, body.record, body.user, by=api_by(who, reader),
                                 reason=body.reason)
    except InputError as exc:  # already walled, a record named badly
        raise HTTPException(422, str(exc)) from exc
    session.commit()
    return WallOut.of(row)


@router.delete("/walls/{wall_id}", status_code=204, response_class=Response, responses=NOT_FOUND,
               summary="Remove a wall (audited as 'wall.removed')")
def wall_remove(wall_id: int, session: DbSession, who: ApiCaller, reader: ApiReader) -> Response:
    _manager(reader)
    with missing_as_404():
        walls.remove_wall(session, who.tenant, wall_id, by=api_by(who, reader))
    session.commit()
    return Response(status_code=204)


@router.put("/activities/{activity_id}/visibility", response_model=VisibilityOut, responses=NOT_FOUND,
            summary="Who sees one e-mail (its owner or an administrator; audited)")
def visibility(activity_id: int, body: Annotated[VisibilityIn, Body()], session: DbSession, who: ApiCaller,
               reader: ApiReader) -> VisibilityOut:
    try:
        visibility_policy.parse(body.visibility, allow_policy=True)
    except InputError as exc:
        raise HTTPException(422, str(exc)) from exc
    try:
        with missing_as_404():  # first: NotFound is an InputError too
            visibility_policy.set_activity_visibility(session, who.tenant, activity_id, body.visibility,
                                                      reader=reader, by=api_by(who, reader))
    except InputError as exc:  # the acting user neither owns it nor administers
        raise HTTPException(403, str(exc)) from exc
    session.commit()
    chosen = visibility_policy.chosen_visibility(session, activity_id)
    return VisibilityOut(activity_id=activity_id, visibility=chosen.value if chosen else visibility_policy.POLICY)
