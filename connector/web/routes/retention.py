"""Administration of how long mail is kept: retention rules and the disposal register, legal holds, and the
erasure of a person (role "Administrator"). Every form is POST → 303 → GET; erasure's report is shown once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from connector.models import RecordKind, RetentionTrigger
from connector.services import holds, retention
from connector.services.erasure import erase_person
from connector.storage.factory import blob_store
from connector.web import security
from connector.web.deps import Admin, AppSettings, DbSession
from connector.web.forms import submit_form
from connector.web.security import csrf_guard
from connector.web.templating import render_page

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])
KINDS = tuple(kind.value for kind in RecordKind)
TRIGGERS = {RetentionTrigger.AFTER_CLOSE.value: "after the record is closed",
            RetentionTrigger.AFTER_LAST_ACTIVITY.value: "after its last e-mail"}


@router.get("/admin/retention")
def retention_page(request: Request, session: DbSession, who: Admin) -> Response:
    rules = [(r, retention.describe(r)) for r in retention.rules(session, who.tenant)]
    due, held = retention.due(session, who.tenant.id or 0, datetime.now(UTC))
    return render_page(request, "admin_retention.html", who, rules=rules, kinds=KINDS, triggers=TRIGGERS,
                       register=retention.register(session, who.tenant, 100), due=len(due), held=len(held))


@router.post("/admin/retention/rules")
def set_rule(request: Request, session: DbSession, who: Admin, kind: Annotated[str, Form()] = "",
             years: Annotated[int, Form()] = 0, days: Annotated[int, Form()] = 0,
             trigger: Annotated[str, Form()] = RetentionTrigger.AFTER_CLOSE.value) -> Response:
    def work() -> str:
        rule = retention.set_rule(session, who.tenant, kind, years=years, days=days, trigger=trigger,
                                  by=who.user.email)
        return f"Retention rule saved: {retention.describe(rule)}."
    return submit_form(request, session, "/admin/retention", work)


@router.post("/admin/retention/rules/{kind}/remove")
def remove_rule(kind: str, request: Request, session: DbSession, who: Admin) -> Response:
    def work() -> str:
        retention.remove_rule(session, who.tenant, kind, by=who.user.email)
        return f"Mail filed under a {kind} is kept for ever again."
    return submit_form(request, session, "/admin/retention", work)


@router.get("/admin/holds")
def holds_page(request: Request, session: DbSession, who: Admin) -> Response:
    return render_page(request, "admin_holds.html", who, holds=holds.holds(session, who.tenant), kinds=KINDS)


@router.post("/admin/holds")
def place_hold(request: Request, session: DbSession, who: Admin, kind: Annotated[str, Form()] = "",
               key: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        record = holds.record_named(session, who.tenant, kind, key.strip())
        hold = holds.place(session, who.tenant, record, reason, who.user.email)
        return f"Legal hold {hold.id} placed on {record.kind} {record.label}: its mail is kept until released."
    return submit_form(request, session, "/admin/holds", work)


@router.post("/admin/holds/{hold_id}/release")
def release_hold(hold_id: int, request: Request, session: DbSession, who: Admin) -> Response:
    def work() -> str:
        holds.release(session, who.tenant, hold_id, who.user.email)
        return f"Legal hold {hold_id} released."
    return submit_form(request, session, "/admin/holds", work, missing_is_404=True)


@router.get("/admin/erasure")
def erasure_page(request: Request, who: Admin) -> Response:
    return render_page(request, "admin_erasure.html", who, report=security.pop_secret(request, "erasure_report"))


@router.post("/admin/erasure")
def erase(request: Request, session: DbSession, who: Admin, settings: AppSettings, address: Annotated[str, Form()] = "",
          names: Annotated[str, Form()] = "", dry_run: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        report = erase_person(session, who.tenant, address, names=[n for n in names.splitlines() if n.strip()],
                              by=who.user.email, dry_run=dry_run == "on", store=blob_store(settings, session))
        security.put_secret(request, "erasure_report", {"lines": report.lines(), "dry_run": report.dry_run})
        return "Nothing was changed: this is what erasure would do." if report.dry_run else \
            f"The person is erased (erasure {report.erasure}). The audit keeps the counts, never the address."
    return submit_form(request, session, "/admin/erasure", work)
