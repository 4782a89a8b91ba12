"""Administration → Walls & visibility: ethical walls (who never sees which matter, project or contact) and the
company's default visibility for logged mail. Both explained on the page; every change audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlmodel import col, select

from connector.models import User
from connector.services import visibility_policy, walls
from connector.services.visibility import company_visibility
from connector.web.deps import Admin, DbSession
from connector.web.forms import submit_form
from connector.web.security import csrf_guard
from connector.web.templating import render_page

PAGE = "/admin/walls"

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])


@router.get(PAGE)
def walls_page(request: Request, session: DbSession, who: Admin) -> Response:
    people = session.exec(select(User).where(User.tenant_id == who.tenant.id).order_by(col(User.email))).all()
    return render_page(request, "admin_walls.html", who, walls=walls.list_walls(session, who.tenant), people=people,
                       policy=company_visibility(session, who.tenant.id).value,
                       described=visibility_policy.DESCRIBED)


@router.post(PAGE)
def add_wall(request: Request, session: DbSession, who: Admin, record: Annotated[str, Form()] = "",
             user: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        row = walls.add_wall(session, who.tenant, record, user, by=who.user.email, reason=reason)
        return (f"{row.user.email} is now walled from {row.record.kind} {row.record.label}: they no longer see it "
                "or its mail anywhere, and mail they send there is refused.")
    return submit_form(request, session, PAGE, work)


@router.post(PAGE + "/{wall_id}/remove")
def remove_wall(wall_id: int, request: Request, session: DbSession, who: Admin) -> Response:
    def work() -> str:
        row = walls.remove_wall(session, who.tenant, wall_id, by=who.user.email)
        return f"The wall between {row.user.email} and {row.record.kind} {row.record.label} is removed."
    return submit_form(request, session, PAGE, work, missing_is_404=True)


@router.post("/admin/visibility")
def set_policy(request: Request, session: DbSession, who: Admin,
               visibility: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        chosen = visibility_policy.set_company_visibility(session, who.tenant, visibility, by=who.user.email)
        return f"Mail whose owner did not choose is now visible to {visibility_policy.DESCRIBED[chosen.value]}."
    return submit_form(request, session, PAGE + "#visibility", work)
