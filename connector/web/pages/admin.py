"""Administration (role "Administrator"): the company's domain proof and switch (F7 level 1), roles and
the capture permission (level 2), tenant-wide access, users and their mailboxes, API tokens, exclusions."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.errors import DnsVerificationError, InputError
from connector.models import Exclusion, Tenant
from connector.services import api_tokens, console, tenant_access, tenants, users
from connector.services.dns_verify import expected_record
from connector.web import security
from connector.web.pages.common import act
from connector.web.security import Viewer, admin, csrf_guard, flash
from connector.web.templating import render

ACCESS_CALLBACK = "/admin/access/callback"
GOOGLE_DWD_URL = "https://admin.google.com/ac/owl/domainwidedelegation"


def _tenant(session: Session, who: Viewer) -> Tenant:
    found = session.get(Tenant, who.tenant.id)
    assert found is not None
    return found


def admin_consent_url(settings: Settings, redirect_uri: str, state: str) -> str | None:
    """Microsoft's admin-consent page for this app (tenant-wide access), or None when not configured."""
    graph = settings.graph
    if not (graph.enabled and graph.client_id):
        return None
    tenant = "organizations" if graph.tenant == "common" else graph.tenant  # an admin of *some* organization
    query = urlencode({"client_id": graph.client_id, "scope": "https://graph.microsoft.com/.default",
                       "redirect_uri": redirect_uri, "state": state})
    return f"{graph.authority_host.rstrip('/')}/{tenant}/v2.0/adminconsent?{query}"


def router() -> APIRouter:
    api = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])

    @api.get("/admin")
    def company(request: Request, who: Viewer = Depends(admin)) -> Response:
        settings = security.context(request).settings
        state = request.session.setdefault("access_state", secrets.token_urlsafe(16))
        with Session(security.context(request).engine) as session:
            tenant = _tenant(session, who)
            roles = console.roles_overview(session, tenant)
            app_only = console.app_only_mailboxes(session, tenant)
            exclusions = session.exec(select(Exclusion).where(
                Exclusion.tenant_id == tenant.id, col(Exclusion.user_id).is_(None))
                .order_by(col(Exclusion.pattern))).all()
        record = expected_record(tenant.txt_token) if tenant.domain and tenant.txt_token else None
        return render(request, "admin.html", who, tenant=tenant, record=record, roles=roles, app_only=app_only,
                      consent_url=admin_consent_url(settings, security.external_url(request, ACCESS_CALLBACK), state),
                      google_configured=bool(settings.gmail.enabled and settings.gmail.client_id),
                      google_dwd=bool(settings.gmail.service_account_file), google_dwd_url=GOOGLE_DWD_URL,
                      exclusions=exclusions)

    @api.post("/admin/domain")
    def set_domain(request: Request, domain: str = Form(""), who: Viewer = Depends(admin)) -> Response:
        def work(session: Session) -> str:
            record = tenants.set_domain(session, _tenant(session, who), domain)
            return f"Publish this TXT record on {domain.strip().lower().rstrip('.')}, then click Verify: {record}"
        return act(request, "/admin#domain", work)

    @api.post("/admin/domain/verify")
    def verify(request: Request, who: Viewer = Depends(admin)) -> Response:
        def work(session: Session) -> str:
            tenant = _tenant(session, who)
            try:
                tenants.verify_domain(session, tenant, security.context(request).resolver)
            except DnsVerificationError as exc:
                raise InputError(f"DNS check failed: {exc}") from exc
            return f"{tenant.domain} is verified. You can now enable email capture for the company."
        return act(request, "/admin#domain", work)

    @api.post("/admin/enabled")
    def switch(request: Request, enabled: str = Form(""), who: Viewer = Depends(admin)) -> Response:
        def work(session: Session) -> str:
            tenants.set_enabled(session, _tenant(session, who), enabled == "on")
            return f"Email capture is {'enabled' if enabled == 'on' else 'disabled'} for the company."
        return act(request, "/admin#domain", work)

    @api.post("/admin/roles/{role_id}/permission")
    def permission(role_id: int, request: Request, granted: str = Form(""), who: Viewer = Depends(admin)) -> Response:
        def work(session: Session) -> str:
            role = console.set_permission(session, who.tenant, role_id, granted == "on")
            verb = "may now use" if granted == "on" else "may no longer use"
            return f"{role.name} {verb} email capture."
        return act(request, "/admin#roles", work, missing_is_404=True)

    @api.get(ACCESS_CALLBACK)
    def access_callback(request: Request, who: Viewer = Depends(admin)) -> Response:
        params = request.query_params
        expected = request.session.pop("access_state", None)
        if not expected or params.get("state") != expected:
            flash(request, "This admin-consent answer does not belong to a request made here.", "error")
        elif params.get("admin_consent") == "True":
            cipher = TokenCipher.from_settings(security.context(request).settings)
            with transaction(security.context(request).engine) as session:
                count = tenant_access.grant_graph(session, _tenant(session, who), params.get("tenant", ""), cipher)
            flash(request, f"Microsoft 365 tenant {params.get('tenant', '')} granted tenant-wide access; "
                           f"{count} mailbox(es) of users with capture on are now connected.")
        else:
            flash(request, "Tenant-wide access was not granted: "
                  f"{params.get('error_description') or params.get('error') or 'no answer'}", "error")
        return RedirectResponse("/admin#access", 303)

    @api.post("/admin/exclusions")
    def add_exclusion(request: Request, pattern: str = Form(""), who: Viewer = Depends(admin)) -> Response:
        def work(session: Session) -> str:
            row = users.add_exclusion(session, who.tenant, pattern)
            return f"{row.pattern} will never be treated as a contact, for anyone in the company."
        return act(request, "/admin#exclusions", work)

    @api.post("/admin/exclusions/remove")
    def remove_exclusion(request: Request, pattern: str = Form(""), who: Viewer = Depends(admin)) -> Response:
        def work(session: Session) -> str:
            users.remove_exclusion(session, who.tenant, pattern)
            return f"{pattern.strip().lower()} is off the company's exclusion list."
        return act(request, "/admin#exclusions", work)

    @api.get("/admin/users")
    def users_page(request: Request, who: Viewer = Depends(admin)) -> Response:
        with Session(security.context(request).engine) as session:
            rows = console.users_overview(session, who.tenant)
        return render(request, "admin_users.html", who, rows=rows, explain=users.explain)

    @api.get("/admin/tokens")
    def tokens_page(request: Request, who: Viewer = Depends(admin)) -> Response:
        created = security.pop_secret(request, "new_token")  # shown once, right after creation
        with Session(security.context(request).engine) as session:
            rows = api_tokens.list_tokens(session, who.tenant)
        return render(request, "admin_tokens.html", who, tokens=rows, created=created)

    @api.post("/admin/tokens")
    def create_token(request: Request, name: str = Form(""), who: Viewer = Depends(admin)) -> Response:
        def work(session: Session) -> str:
            row, token = api_tokens.create_token(session, who.tenant, name, created_by=who.user.email)
            security.put_secret(request, "new_token", {"name": row.name, "token": token})
            return f"Token “{row.name}” created. Copy it now: it is not shown again."
        return act(request, "/admin/tokens", work)

    @api.post("/admin/tokens/{token_id}/revoke")
    def revoke_token(token_id: int, request: Request, who: Viewer = Depends(admin)) -> Response:
        def work(session: Session) -> str:
            row = api_tokens.revoke_token(session, who.tenant, token_id)
            return f"Token “{row.name}” is revoked."
        return act(request, "/admin/tokens", work, missing_is_404=True)

    return api
