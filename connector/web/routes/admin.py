"""Administration (role "Administrator"): the company's domain proof and switch (F7 level 1), roles and
the capture permission (level 2), tenant-wide access, users and their mailboxes, API tokens, exclusions."""

from __future__ import annotations

import secrets
from typing import Annotated, Protocol, runtime_checkable
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from connector.config import Settings
from connector.crypto import TokenCipher
from connector.errors import DnsVerificationError, InputError, ProviderError
from connector.models import Tenant
from connector.services import api_tokens, company_overview, tenant_access, tenants, users
from connector.services.dns_verify import expected_record
from connector.web import security
from connector.web.context import AppContext
from connector.web.deps import Admin, AppSettings, Context, DbSession
from connector.web.forms import submit_form
from connector.web.security import csrf_guard, flash
from connector.web.templating import render_page

ACCESS_CALLBACK = "/admin/access/callback"
GOOGLE_DWD_URL = "https://admin.google.com/ac/owl/domainwidedelegation"

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_guard)])


def admin_consent_url(settings: Settings, redirect_uri: str, state: str) -> str | None:
    """Microsoft's admin-consent page for this app (tenant-wide access), or None when not configured."""
    graph = settings.graph
    if not (graph.enabled and graph.client_id):
        return None
    tenant = "organizations" if graph.tenant == "common" else graph.tenant  # an admin of *some* organization
    query = urlencode({"client_id": graph.client_id, "scope": "https://graph.microsoft.com/.default",
                       "redirect_uri": redirect_uri, "state": state})
    return f"{graph.authority_host.rstrip('/')}/{tenant}/v2.0/adminconsent?{query}"


@router.get("/admin")
def company(request: Request, session: DbSession, who: Admin, settings: AppSettings) -> Response:
    state = request.session.setdefault("access_state", secrets.token_urlsafe(16))
    tenant = who.tenant
    record = expected_record(tenant.txt_token) if tenant.domain and tenant.txt_token else None
    return render_page(
        request, "admin.html", who, tenant=tenant, record=record,
        roles=company_overview.roles_overview(session, tenant),
        app_only=company_overview.app_only_mailboxes(session, tenant),
        consent_url=admin_consent_url(settings, security.external_url(request, ACCESS_CALLBACK), state),
        google_configured=bool(settings.gmail.enabled and settings.gmail.client_id),
        google_dwd=bool(settings.gmail.service_account_file), google_dwd_url=GOOGLE_DWD_URL,
        exclusions=users.company_exclusions(session, tenant))


@router.post("/admin/domain")
def set_domain(request: Request, session: DbSession, who: Admin, domain: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        record = tenants.set_domain(session, who.tenant, domain)
        return f"Publish this TXT record on {domain.strip().lower().rstrip('.')}, then click Verify: {record}"
    return submit_form(request, session, "/admin#domain", work)


@router.post("/admin/domain/verify")
def verify(request: Request, session: DbSession, who: Admin, context: Context) -> Response:
    def work() -> str:
        try:
            tenants.verify_domain(session, who.tenant, context.resolver)
        except DnsVerificationError as exc:
            raise InputError(f"DNS check failed: {exc}") from exc
        return f"{who.tenant.domain} is verified. You can now enable email capture for the company."
    return submit_form(request, session, "/admin#domain", work)


@router.post("/admin/enabled")
def switch(request: Request, session: DbSession, who: Admin, enabled: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        tenants.set_enabled(session, who.tenant, enabled == "on")
        return f"Email capture is {'enabled' if enabled == 'on' else 'disabled'} for the company."
    return submit_form(request, session, "/admin#domain", work)


@router.post("/admin/roles/{role_id}/permission")
def permission(role_id: int, request: Request, session: DbSession, who: Admin,
               granted: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        role = tenants.set_permission(session, who.tenant, role_id, granted == "on")
        verb = "may now use" if granted == "on" else "may no longer use"
        return f"{role.name} {verb} email capture."
    return submit_form(request, session, "/admin#roles", work, missing_is_404=True)


@runtime_checkable
class TenantConsentCheck(Protocol):
    """What confirms an admin-consent answer with Microsoft (providers/graph/auth.py `GraphAuth`)."""

    def tenant_consent(self, domain: str) -> tuple[str, bool]: ...


@router.get(ACCESS_CALLBACK)
def access_callback(request: Request, session: DbSession, who: Admin, context: Context) -> Response:
    """Microsoft's answer to the admin-consent request made from /admin (tenant-wide access).

    The answer comes through the browser, so the administrator could have typed it: the state must be the
    one this session started, and Microsoft itself must confirm that the tenant named owns the company's
    verified domain and consented. Otherwise an administrator could claim another organization's tenant.
    """
    params = request.query_params
    expected = request.session.pop("access_state", None)
    claimed = params.get("tenant", "").strip()
    if not expected or not secrets.compare_digest(params.get("state", "").encode(), str(expected).encode()):
        flash(request, "This admin-consent answer does not belong to a request made here.", "error")
    elif params.get("admin_consent") != "True":
        flash(request, "Tenant-wide access was not granted: "
              f"{params.get('error_description') or params.get('error') or 'no answer'}", "error")
    elif (problem := _unconfirmed(context, who.tenant, claimed)) is not None:
        flash(request, f"Tenant-wide access was not granted: {problem}", "error")
    else:
        try:
            count = tenant_access.grant_graph(session, who.tenant, claimed, TokenCipher.from_settings(context.settings),
                                              context.directory())
            session.commit()
        except InputError as exc:
            session.rollback()
            flash(request, f"Tenant-wide access was not granted: {exc}", "error")
        else:
            flash(request, f"Microsoft 365 tenant {claimed} granted tenant-wide access; "
                           f"{count} mailbox(es) of users with capture on are now connected.")
    return RedirectResponse("/admin#access", 303)


def _unconfirmed(context: AppContext, tenant: Tenant, claimed: str) -> str | None:
    """Why Microsoft does not confirm that ``claimed`` is the company's consenting tenant (None: it does)."""
    check = context.consent_flows.get("graph")
    if not isinstance(check, TenantConsentCheck):
        return "Microsoft sign-in is not configured here, so the answer cannot be confirmed"
    if not (tenant.domain and tenant.verified_at):
        return "verify the company's domain first: Microsoft confirms the tenant that owns it"
    try:
        owner, consented = check.tenant_consent(tenant.domain)
    except ProviderError as exc:
        return f"Microsoft could not be asked to confirm it ({exc}); please try again"
    if not claimed or owner != claimed:
        return f"Microsoft 365 tenant {claimed or '(none named)'} is not the one that owns {tenant.domain}"
    if not consented:
        return f"Microsoft has no admin consent for this app from tenant {claimed}"
    return None


@router.post("/admin/exclusions")
def add_exclusion(request: Request, session: DbSession, who: Admin, pattern: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        row = users.add_exclusion(session, who.tenant, pattern)
        return f"{row.pattern} will never be treated as a contact, for anyone in the company."
    return submit_form(request, session, "/admin#exclusions", work)


@router.post("/admin/exclusions/remove")
def remove_exclusion(request: Request, session: DbSession, who: Admin,
                     pattern: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        users.remove_exclusion(session, who.tenant, pattern)
        return f"{pattern.strip().lower()} is off the company's exclusion list."
    return submit_form(request, session, "/admin#exclusions", work)


@router.get("/admin/users")
def users_page(request: Request, session: DbSession, who: Admin) -> Response:
    rows = company_overview.users_overview(session, who.tenant)
    roles = [r.role for r in company_overview.roles_overview(session, who.tenant)]
    return render_page(request, "admin_users.html", who, rows=rows, roles=roles, explain=users.explain)


@router.post("/admin/users/{user_id}/role")
def change_role(user_id: int, request: Request, session: DbSession, who: Admin,
                role_id: Annotated[int, Form()] = 0) -> Response:
    def work() -> str:
        user, role = users.set_role(session, who.tenant, user_id, role_id)
        return f"{user.email} now has the role {role.name}, and was signed out everywhere."
    return submit_form(request, session, "/admin/users", work, missing_is_404=True)


@router.post("/admin/users/{user_id}/active")
def switch_user(user_id: int, request: Request, session: DbSession, who: Admin,
                active: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        user = users.set_active(session, who.tenant, user_id, active == "on")
        return f"{user.email} is active again." if user.active else \
            f"{user.email} is deactivated: signed out everywhere, and their mail is no longer captured."
    return submit_form(request, session, "/admin/users", work, missing_is_404=True)


@router.get("/admin/tokens")
def tokens_page(request: Request, session: DbSession, who: Admin) -> Response:
    created = security.pop_secret(request, "new_token")  # shown once, right after creation
    rows = api_tokens.list_tokens(session, who.tenant)
    return render_page(request, "admin_tokens.html", who, tokens=rows, created=created)


@router.post("/admin/tokens")
def create_token(request: Request, session: DbSession, who: Admin, name: Annotated[str, Form()] = "") -> Response:
    def work() -> str:
        row, token = api_tokens.create_token(session, who.tenant, name, created_by=who.user.email)
        security.put_secret(request, "new_token", {"name": row.name, "token": token})
        return f"Token “{row.name}” created. Copy it now: it is not shown again."
    return submit_form(request, session, "/admin/tokens", work)


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(token_id: int, request: Request, session: DbSession, who: Admin) -> Response:
    def work() -> str:
        row = api_tokens.revoke_token(session, who.tenant, token_id)
        return f"Token “{row.name}” is revoked."
    return submit_form(request, session, "/admin/tokens", work, missing_is_404=True)
