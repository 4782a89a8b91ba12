"""Administration: proving the domain through real DNS, switching the company on, roles and their
permission, users and their connections, API tokens (tenant-wide access: test_admin_consent.py)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlmodel import select

from connector.db import transaction
from connector.models import Mailbox, MailboxState, Tenant
from connector.services import tenants
from tests.connector.web.conftest import Site, flash_of, sign_in, text_of


def post(client: TestClient, csrf: str, url: str, **data: str) -> list[str]:
    answer = client.post(url, data={"csrf": csrf, **data})
    assert answer.status_code == 303, answer.text
    return flash_of(client.get(answer.headers["location"]).text)


def alices_mailbox(site: Site) -> str:
    with site.world.session() as session:
        return session.exec(select(Mailbox).where(Mailbox.user_id == site.world.alice.id)).one().state


def test_only_administrators_open_the_admin_pages(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    assert 'href="/admin"' not in client.get("/records").text
    for url in ("/admin", "/admin/users", "/admin/tokens"):
        answer = client.get(url)
        assert answer.status_code == 403 and "Only administrators can open this page." in answer.text
    assert client.post("/admin/enabled", data={"csrf": csrf, "enabled": "off"}).status_code == 403
    assert client.post("/admin/tokens", data={"csrf": csrf, "name": "mine"}).status_code == 403


def test_ada_proves_a_new_domain_through_dns_and_enables_the_company(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "ada@acme-law.com")
    assert post(client, csrf, "/admin/domain", domain="not a domain") == ["'not a domain' is not a domain name"]
    shown = post(client, csrf, "/admin/domain", domain="Acme-Legal.example.")
    with site.world.session() as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None and tenant.enabled is False  # a new domain needs a new proof
        record = tenants.txt_record(tenant)
    assert shown == [f"Publish this TXT record on acme-legal.example, then click Verify: {record}"]
    page = client.get("/admin").text
    assert f'<code id="txt-record" class="address">{record}</code>' in page
    assert "disabled" in page.split("Enable for the company")[0].rsplit("<button", 1)[1]  # not before the proof
    # Not published yet: the page says exactly what DNS answered.
    assert post(client, csrf, "/admin/domain/verify") == [
        "DNS check failed: acme-legal.example does not exist (NXDOMAIN)"]
    site.dns.publish("acme-legal.example", "v=spf1 -all")
    site.dns.publish("acme-legal.example", "bcc-capture-verification=stale")
    assert post(client, csrf, "/admin/domain/verify") == [
        f"DNS check failed: acme-legal.example has 'bcc-capture-verification=stale', expected '{record}'"]
    site.dns.publish("acme-legal.example", record)
    assert post(client, csrf, "/admin/domain/verify") == [
        "acme-legal.example is verified. You can now enable email capture for the company."]
    assert post(client, csrf, "/admin/enabled", enabled="on") == ["Email capture is enabled for the company."]
    assert ">Enabled</span>" in client.get("/admin").text


def test_revoking_the_permission_pauses_the_roles_mailboxes_and_says_why(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "ada@acme-law.com")
    with site.world.session() as session:
        role_id = tenants.get_role(session, site.world.tenant, "Standard User").id
    with transaction(site.engine) as session:
        session.add(Mailbox(tenant_id=site.world.tenant.id, user_id=site.world.alice.id, provider="gmail",
                            address="alice@acme-law.com", credentials="x", state=MailboxState.INCREMENTAL.value))
    assert post(client, csrf, f"/admin/roles/{role_id}/permission", granted="off") == [
        "Standard User may no longer use email capture."]
    assert alices_mailbox(site) == MailboxState.PAUSED.value
    page = client.get("/admin/users").text
    alice = site.world.alice.id
    alices_row = text_of(page.split(f'id="role-{alice}"')[1].split("</tr>")[0])
    assert re.search(rf'id="role-{alice}">\s*<option value="\d+">Administrator</option><option value="\d+" '
                     r'selected>Standard User</option>', page)
    assert "Off the user's role lacks the 'use email capture' permission (level 2) alice@acme-law.com Paused" \
           in alices_row
    assert post(client, csrf, f"/admin/roles/{role_id}/permission", granted="on") == [
        "Standard User may now use email capture."]
    assert alices_mailbox(site) == MailboxState.INITIAL.value  # restarts from "now"


def test_ada_creates_an_api_token_sees_it_once_and_revokes_it(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "ada@acme-law.com")
    assert post(client, csrf, "/admin/tokens", name="  ") == [
        "Give the token a name of 1 to 80 characters (what will use it?)"]
    client.post("/admin/tokens", data={"csrf": csrf, "name": "Practice sync"})
    page = client.get("/admin/tokens").text
    token = page.split('<code id="new-token" class="address">')[1].split("<")[0]
    assert token.startswith("bcc_") and len(token) > 40
    assert client.get("/api/v1/records", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    again = client.get("/admin/tokens").text
    assert token not in again and f"{token[:10]}…" in again  # shown once; then only its start
    token_id = again.split('action="/admin/tokens/')[1].split("/")[0]
    assert post(client, csrf, f"/admin/tokens/{token_id}/revoke") == ["Token “Practice sync” is revoked."]
    assert client.get("/api/v1/records", headers={"Authorization": f"Bearer {token}"}).status_code == 401
