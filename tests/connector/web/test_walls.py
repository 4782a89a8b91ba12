"""Ethical walls in the console and the API: Bob, an administrator walled from matter 10802, crawls every console
route and every API path that names the matter, its e-mail or its attachment — each answers 404, exactly like an id
that does not exist — and no list, search, count, audit page or export of his shows it. Alice, beside him, still
sees all of it (so each check can fail). Runs on SQLite and PostgreSQL.

The routes are read from the app itself: a new route naming a record, an e-mail or an attachment is crawled too."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from connector.db import transaction
from connector.errors import InputError
from connector.models import Attachment, Tenant
from connector.services import api_tokens, tenants, users, walls
from connector.services.export import Scope, export
from connector.services.visibility import reader_for
from connector.storage.factory import blob_store
from tests.connector.web.conftest import PDF, Site, log_matter_mail, sign_in, text_of
from tests.connector.web.test_tenant_isolation import routes
from tests.mailbuilder import mail, to_dropbox

SECRET = "Privileged settlement terms"
MATTER_IDS = ("record_id", "activity_id", "attachment_id")


@dataclass(frozen=True)
class Walled:
    record_id: int
    activity_id: int
    attachment_id: int
    carol_id: int
    token: str


@pytest.fixture
def walled(site: Site) -> Walled:
    """Matter 10802 holds Alice's privileged mail (with a PDF); Carol also has an ordinary mail of her own.
    Bob is an administrator and is walled from the matter."""
    activity_id = log_matter_mail(site, SECRET, attachments=[PDF])
    site.capture.process(to_dropbox(mail("Alice Archer <alice@acme-law.com>", ["Carol Client <carol@clientco.com>"],
                                         bcc=["notes@bcc.example.com"], subject="Lunch on Friday?",
                                         message_id="<lunch@acme-law.com>")))
    with transaction(site.engine) as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None and site.world.bob.id is not None
        users.set_role(session, tenant, site.world.bob.id, tenants.get_role(session, tenant, "Administrator").id or 0)
        walls.add_wall(session, tenant, "matter:10802", "bob@acme-law.com", by="ada@acme-law.com",
                       reason="acted for the defendant")
        attachment = session.exec(select(Attachment).where(Attachment.activity_id == activity_id)).one()
        carol = walls.find_target(session, tenant, "contact:carol@clientco.com")
        token = api_tokens.create_token(session, tenant, "Practice management")[1]
        assert attachment.id and carol.id
        return Walled(site.world.matter.id or 0, activity_id, attachment.id, carol.id, token)


def matter_urls(site: Site, ids: Walled, prefix_api: bool) -> list[tuple[str, str]]:
    """Every (method, url) of the app naming the matter, its e-mail or its attachment."""
    found = []
    for method, path in routes(site):
        params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        if not params or not set(params) <= set(MATTER_IDS) or path.startswith("/api/") != prefix_api:
            continue
        url = path
        for name in params:
            url = url.replace("{" + name + "}", str(getattr(ids, name)))
        found.append((method, url))
    return found


def test_a_walled_user_gets_404_on_every_console_url_of_the_matter(client: TestClient, site: Site,
                                                                   walled: Walled) -> None:
    alice = sign_in(client, site, "alice@acme-law.com")
    urls = matter_urls(site, walled, prefix_api=False)
    assert {u for m, u in urls if m == "GET"} >= {f"/records/{walled.record_id}", f"/activities/{walled.activity_id}",
                                                  f"/attachments/{walled.attachment_id}"}
    for method, url in urls:
        if method == "GET":
            assert client.get(url).status_code == 200, url  # Alice, not walled, reads each of them
    assert alice
    csrf = sign_in(client, site, "bob@acme-law.com")
    for method, url in urls:
        form = {"csrf": csrf, "visibility": "company", "back": "/records"}
        answer = client.request(method, url, data=form if method == "POST" else None)
        assert answer.status_code == 404, (method, url, answer.status_code)
        assert "There is nothing here." in answer.text
    assert len(urls) >= 5, urls


def test_a_walled_user_gets_404_on_every_api_path_of_the_matter(client: TestClient, site: Site,
                                                                 walled: Walled) -> None:
    as_alice = {"Authorization": f"Bearer {walled.token}", "X-Acting-User": "alice@acme-law.com"}
    as_bob = {"Authorization": f"Bearer {walled.token}", "X-Acting-User": "bob@acme-law.com"}
    schema = client.get("/openapi.json").json()
    crawled = []
    for path, operations in schema["paths"].items():
        params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        if not path.startswith("/api/") or not params or not set(params) <= set(MATTER_IDS):
            continue
        url = path
        for name in params:
            url = url.replace("{" + name + "}", str(getattr(walled, name)))
        for method in operations:
            body = {"visibility": "company"} if method == "put" else None
            if method == "get":
                assert client.get(url, headers=as_alice).status_code == 200, url
            answer = client.request(method.upper(), url, json=body, headers=as_bob)
            assert answer.status_code == 404, (method, url, answer.status_code, answer.text)
            crawled.append((method, path))
    assert len(crawled) >= 5, crawled


def test_no_list_search_count_audit_or_export_of_a_walled_user_shows_the_matter(client: TestClient, site: Site,
                                                                                 walled: Walled) -> None:
    sign_in(client, site, "alice@acme-law.com")
    carol_page = text_of(client.get(f"/records/{walled.carol_id}").text)
    assert SECRET in carol_page and "Communications 2" in carol_page  # Alice sees both of Carol's mails
    sign_in(client, site, "bob@acme-law.com")
    for url in ("/records", "/records?q=10802", "/records?kind=matter", f"/records/{walled.carol_id}",
                f"/records/{walled.carol_id}?q=settlement", "/audit?action=all", "/audit?action=logged"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert SECRET not in page.text and "Smith v. Jones" not in page.text, url
    carol = text_of(client.get(f"/records/{walled.carol_id}").text)
    assert "Communications 1" in carol and "Lunch on Friday?" in carol  # the count leaves the matter's mail out
    assert "0 messages matching" in text_of(client.get(f"/records/{walled.carol_id}?q=settlement").text)

    as_bob = {"Authorization": f"Bearer {walled.token}", "X-Acting-User": "bob@acme-law.com"}
    for path in ("/api/v1/records", "/api/v1/records?q=10802", f"/api/v1/records/{walled.carol_id}/communications",
                 "/api/v1/audit?action=logged"):
        answer = client.get(path, headers=as_bob)
        assert answer.status_code == 200, path
        assert SECRET not in answer.text and "Smith v. Jones" not in answer.text, path
    company = client.get("/api/v1/audit?action=logged", headers={"Authorization": f"Bearer {walled.token}"})
    assert SECRET in company.text  # the token acting for nobody reads as the company

    with transaction(site.engine) as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None
        bob = reader_for(session, users.get_user(session, "bob@acme-law.com"))
        out = io.BytesIO()
        store = blob_store(site.settings, session)  # the site's key, not the process's settings
        result = export(session, tenant, Scope(contact="carol@clientco.com"), out, by="bob", reader=bob, store=store)
        names = zipfile.ZipFile(out).namelist()
        assert result.messages == 1 and not [n for n in names if "Privileged" in n]
        with pytest.raises(InputError, match="no matter 10802"):
            export(session, tenant, Scope(matter="10802"), io.BytesIO(), by="bob", reader=bob, store=store)
        everything = export(session, tenant, Scope(contact="carol@clientco.com"), io.BytesIO(), by="cli", store=store)
        assert everything.messages == 2


def test_removing_the_wall_gives_the_matter_back(client: TestClient, site: Site, walled: Walled) -> None:
    sign_in(client, site, "bob@acme-law.com")
    assert client.get(f"/records/{walled.record_id}").status_code == 404
    with transaction(site.engine) as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None
        [row] = walls.list_walls(session, tenant)
        walls.remove_wall(session, tenant, row.wall.id or 0, by="ada@acme-law.com")
    page = client.get(f"/records/{walled.record_id}")
    assert page.status_code == 200 and SECRET in page.text
