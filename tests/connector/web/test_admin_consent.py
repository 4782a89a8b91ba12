"""Tenant-wide access through Microsoft's admin consent, and its callback as a company administrator could
forge it: the answer travels through the browser, so the console has Microsoft confirm it — the state
must be this session's, and the tenant named must own the company's verified domain and have consented."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from connector.db import transaction
from connector.models import Mailbox, Tenant
from tests.connector.web.conftest import GRAPH_CLIENT, GRAPH_TENANT, Site, back_from_idp, flash_of, sign_in, sqlite_only

pytestmark = sqlite_only  # forms and flows; their queries run on both databases in the records and API stories
ELSEWHERE = "5d2c9f0e-1b7a-4c3d-8e6f-a1b2c3d4e5f6"  # another organization, which did consent to this app


@pytest.fixture
def consents(site: Site) -> Iterator[None]:
    """Another organization using the same app; every admin consent given in a story is withdrawn after it."""
    site.idps.graph.add_user("it@globex-corp.example", "Globex IT", ELSEWHERE)
    site.idps.graph.grant_admin_consent(ELSEWHERE, GRAPH_CLIENT)
    yield
    for tenant in (ELSEWHERE, GRAPH_TENANT):
        site.idps.graph.revoke_admin_consent(tenant, GRAPH_CLIENT)


def consent_link(client: TestClient) -> str:
    found = re.search(r'href="([^"]+/adminconsent\?[^"]+)"', client.get("/admin").text)
    assert found, "no admin-consent link on /admin"
    return html.unescape(found.group(1))


def answer(client: TestClient, **claims: str) -> list[str]:
    """The callback with this session's own state and whatever else the administrator types."""
    state = parse_qs(urlparse(consent_link(client)).query)["state"][0]
    reply = client.get(f"/admin/access/callback?{urlencode({'state': state, **claims})}")
    assert reply.headers["location"] == "/admin#access"
    return flash_of(client.get("/admin").text)


def linked(site: Site) -> tuple[str | None, int]:
    with site.world.session() as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None
        return tenant.graph_tenant_id, len(session.exec(select(Mailbox).where(col(Mailbox.app_only))).all())


def test_ada_grants_tenant_wide_access_through_microsofts_consent_page(client: TestClient, site: Site,
                                                                      consents: None) -> None:
    sign_in(client, site, "ada@acme-law.com")
    link = urlparse(consent_link(client))
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert f"{link.scheme}://{link.netloc}" == site.idps.graph_urls.authority_host
    assert link.path.endswith("/v2.0/adminconsent") and query["client_id"] == GRAPH_CLIENT
    assert query["redirect_uri"] == "http://testserver/admin/access/callback"
    assert "Not in use" in client.get("/admin").text
    site.idps.graph.set_consent("approve", login_user="ada@acme-law.com")
    back_from_idp(client, site.idps, consent_link(client))
    page = client.get("/admin").text
    assert flash_of(page) == [f"Microsoft 365 tenant {GRAPH_TENANT} granted tenant-wide access; 2 mailbox(es) of "
                              "users with capture on are now connected."]
    assert "read with tenant-wide access" in page
    assert linked(site) == (GRAPH_TENANT, 2)


def test_a_typed_admin_consent_answer_grants_nothing(client: TestClient, site: Site, consents: None) -> None:
    sign_in(client, site, "ada@acme-law.com")
    forged = client.get(f"/admin/access/callback?admin_consent=True&tenant={ELSEWHERE}&state=guessed")
    assert forged.status_code == 303
    assert flash_of(client.get("/admin").text) == ["This admin-consent answer does not belong to a request made here."]
    # With this session's own state, another organization that consented to the app is still not Acme's.
    assert answer(client, admin_consent="True", tenant=ELSEWHERE) == [
        f"Tenant-wide access was not granted: Microsoft 365 tenant {ELSEWHERE} is not the one that owns "
        "acme-law.com"]
    # Acme's own tenant, before any administrator there consented.
    assert answer(client, admin_consent="True", tenant=GRAPH_TENANT) == [
        f"Tenant-wide access was not granted: Microsoft has no admin consent for this app from tenant {GRAPH_TENANT}"]
    assert answer(client, admin_consent="True") == [
        "Tenant-wide access was not granted: Microsoft 365 tenant (none named) is not the one that owns acme-law.com"]
    assert linked(site) == (None, 0)


def test_one_organization_is_linked_to_one_company(client: TestClient, site: Site, consents: None) -> None:
    with transaction(site.engine) as session:
        other = session.get(Tenant, site.other.tenant.id)
        assert other is not None
        other.graph_tenant_id = GRAPH_TENANT
        session.add(other)
    site.idps.graph.grant_admin_consent(GRAPH_TENANT, GRAPH_CLIENT)
    sign_in(client, site, "ada@acme-law.com")
    assert answer(client, admin_consent="True", tenant=GRAPH_TENANT) == [
        f"Tenant-wide access was not granted: Microsoft 365 tenant {GRAPH_TENANT} is already linked to another "
        "company"]
    assert linked(site) == (None, 0)
