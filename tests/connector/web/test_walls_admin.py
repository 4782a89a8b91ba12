"""Walls and visibility as an administrator and an owner meet them, in the console and the API, and the audit of
every view and download (who, when, what): `activity.viewed`, `attachment.downloaded`."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import col, select

from connector.db import transaction
from connector.models import AuditEntry, Tenant
from connector.services import access_log, api_tokens
from tests.connector.web.conftest import PDF, Site, flash_of, log_matter_mail, sign_in, sqlite_only, text_of


def token_for(site: Site) -> dict[str, str]:
    with transaction(site.engine) as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None
        return {"Authorization": f"Bearer {api_tokens.create_token(session, tenant, 'Practice management')[1]}"}


def entries(site: Site, action: str) -> list[AuditEntry]:
    with site.world.session() as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))))


@sqlite_only
def test_an_administrator_walls_bob_off_the_matter_and_removes_the_wall(client: TestClient, site: Site) -> None:
    log_matter_mail(site, "Settlement draft")
    csrf = sign_in(client, site, "ada@acme-law.com")
    page = client.get("/admin/walls")
    assert "No walls." in text_of(page.text) and "A wall keeps one user away" in page.text
    added = client.post("/admin/walls", data={"csrf": csrf, "user": "bob@acme-law.com", "record": "matter:10802",
                                              "reason": "acted for the defendant"}, follow_redirects=True)
    assert flash_of(added.text) == ["bob@acme-law.com is now walled from matter 10802 Smith v. Jones: they no longer "
                                    "see it or its mail anywhere, and mail they send there is refused."]
    assert "acted for the defendant" in text_of(added.text)
    again = client.post("/admin/walls", data={"csrf": csrf, "user": "bob@acme-law.com", "record": "10802"},
                        follow_redirects=True)
    assert flash_of(again.text) == ["Bob@acme-law.com is already walled from matter 10802 Smith v. Jones"]
    unknown = client.post("/admin/walls", data={"csrf": csrf, "user": "bob@acme-law.com", "record": "matter:999"},
                          follow_redirects=True)
    assert flash_of(unknown.text) == ["No matter 999"]
    [wall] = entries(site, "wall.added")
    assert wall.detail["user"] == "bob@acme-law.com" and wall.detail["by"] == "ada@acme-law.com"

    sign_in(client, site, "bob@acme-law.com")
    assert client.get(f"/records/{site.world.matter.id}").status_code == 404
    assert client.get("/admin/walls").status_code == 403  # only administrators manage walls
    csrf = sign_in(client, site, "ada@acme-law.com")
    removed = client.post(f"/admin/walls/{wall.detail['wall_id']}/remove", data={"csrf": csrf},
                          follow_redirects=True)
    assert flash_of(removed.text) == ["The wall between bob@acme-law.com and matter 10802 Smith v. Jones is removed."]
    sign_in(client, site, "bob@acme-law.com")
    assert "Settlement draft" in client.get(f"/records/{site.world.matter.id}").text
    assert [e.detail["user"] for e in entries(site, "wall.removed")] == ["bob@acme-law.com"]


@sqlite_only
def test_the_owner_keeps_an_email_to_herself_on_its_page(client: TestClient, site: Site) -> None:
    activity_id = log_matter_mail(site, "Settlement draft")
    csrf = sign_in(client, site, "bob@acme-law.com")
    page = text_of(client.get(f"/activities/{activity_id}").text)
    assert "Now: everyone in the company (the company's policy)" in page
    assert "Only the user who logged it (alice@acme-law.com) or an administrator can change this." in page
    refused = client.post(f"/activities/{activity_id}/visibility", data={"csrf": csrf, "visibility": "owner"},
                          follow_redirects=True)
    assert flash_of(refused.text) == ["Only the user who logged this e-mail or an administrator can change who sees it"]
    csrf = sign_in(client, site, "alice@acme-law.com")
    done = client.post(f"/activities/{activity_id}/visibility", data={"csrf": csrf, "visibility": "owner"},
                       follow_redirects=True)
    assert flash_of(done.text) == ["This e-mail is now visible to its owner only (and administrators)."]
    assert "Visible to: owner" in text_of(client.get(f"/records/{site.world.matter.id}").text)
    sign_in(client, site, "bob@acme-law.com")
    assert client.get(f"/activities/{activity_id}").status_code == 404
    assert "Settlement draft" not in client.get(f"/records/{site.world.matter.id}").text


@sqlite_only
def test_the_company_policy_is_set_on_the_walls_page(client: TestClient, site: Site) -> None:
    log_matter_mail(site, "Settlement draft")
    csrf = sign_in(client, site, "ada@acme-law.com")
    saved = client.post("/admin/visibility", data={"csrf": csrf, "visibility": "team"}, follow_redirects=True)
    assert flash_of(saved.text) == ["Mail whose owner did not choose is now visible to its owner, the users on it and "
                                    "the team of each matter or project it is filed under."]
    assert 'value="team" checked' in saved.text
    sign_in(client, site, "bob@acme-law.com")  # not on the mail, owns no mail on the matter
    assert "Settlement draft" not in client.get(f"/records/{site.world.matter.id}").text


def test_walls_and_visibility_through_the_api(client: TestClient, site: Site) -> None:
    activity_id = log_matter_mail(site, "Settlement draft")
    token = token_for(site)
    created = client.post("/api/v1/walls", json={"record": "matter:10802", "user": "bob@acme-law.com",
                                                 "reason": "conflict"}, headers=token)
    assert created.status_code == 201, created.text
    assert created.json()["record"] == "matter 10802 Smith v. Jones" and created.json()["user"] == "bob@acme-law.com"
    as_bob = {**token, "X-Acting-User": "bob@acme-law.com"}
    assert client.get("/api/v1/walls", headers=as_bob).status_code == 403  # Bob is no administrator
    assert client.get(f"/api/v1/records/{site.world.matter.id}", headers=as_bob).status_code == 404
    assert client.get("/api/v1/walls", headers={**token, "X-Acting-User": "nobody@acme-law.com"}).status_code == 422
    assert client.post("/api/v1/walls", json={"record": "matter:10802", "user": "bob@acme-law.com"},
                       headers=token).status_code == 422  # already walled
    assert client.delete(f"/api/v1/walls/{created.json()['id']}", headers=token).status_code == 204
    assert client.get(f"/api/v1/records/{site.world.matter.id}", headers=as_bob).status_code == 200
    assert client.get("/api/v1/walls", headers=token).json() == []

    as_alice = {**token, "X-Acting-User": "alice@acme-law.com"}
    assert client.put(f"/api/v1/activities/{activity_id}/visibility", json={"visibility": "owner"},
                      headers=as_bob).status_code == 403
    assert client.put(f"/api/v1/activities/{activity_id}/visibility", json={"visibility": "nobody"},
                      headers=as_alice).status_code == 422
    chosen = client.put(f"/api/v1/activities/{activity_id}/visibility", json={"visibility": "owner"}, headers=as_alice)
    assert chosen.json() == {"activity_id": activity_id, "visibility": "owner"}
    assert "Settlement draft" not in client.get(f"/api/v1/records/{site.world.matter.id}/communications",
                                                headers=as_bob).text
    assert "Settlement draft" in client.get(f"/api/v1/records/{site.world.matter.id}/communications",
                                            headers=token).text


def test_every_view_and_download_is_audited(client: TestClient, site: Site) -> None:
    activity_id = log_matter_mail(site, "Settlement draft", attachments=[PDF])
    sign_in(client, site, "alice@acme-law.com")
    tab = client.get(f"/records/{site.world.matter.id}")
    assert tab.status_code == 200
    attachment_id = int(tab.text.split('href="/attachments/')[1].split('"')[0])
    assert client.get(f"/activities/{activity_id}").status_code == 200
    assert client.get(f"/attachments/{attachment_id}").content == PDF[2]
    token = token_for(site)
    assert client.get(f"/api/v1/records/{site.world.matter.id}/communications",
                      headers={**token, "X-Acting-User": "bob@acme-law.com"}).status_code == 200
    assert client.get(f"/api/v1/attachments/{attachment_id}", headers=token).content == PDF[2]

    viewed = [(e.detail["by"], e.reason, access_log.shown_in(e)) for e in entries(site, "activity.viewed")]
    one = [(activity_id, "<m1@acme-law.com>")]  # each read lists the one e-mail it showed
    assert viewed == [("alice@acme-law.com", "console", one), ("alice@acme-law.com", "console", one),
                      ("API token Practice management for bob@acme-law.com", "api", one)]
    downloads = [(e.detail["by"], e.reason, e.detail["name"], e.detail["attachment_id"])
                 for e in entries(site, "attachment.downloaded")]
    assert downloads == [("alice@acme-law.com", "console", "brief.pdf", attachment_id),
                         ("API token Practice management", "api", "brief.pdf", attachment_id)]
    assert all(e.seq is not None for e in entries(site, "activity.viewed"))  # sealed into the company's chain
    sign_in(client, site, "ada@acme-law.com")
    audit_page = text_of(client.get("/audit?action=attachment.downloaded").text)
    assert "attachment.downloaded" in audit_page and "by alice@acme-law.com" in audit_page
    who_read = text_of(client.get("/audit", params={"action": "activity.viewed", "message": "<m1@acme-law.com>"}).text)
    assert who_read.count("by alice@acme-law.com") == 2 and "by API token" in who_read
    about = client.get("/api/v1/audit", params={"message_id": "<m1@acme-law.com>"}, headers=token).json()
    assert [e["action"] for e in about].count("activity.viewed") == 3 and "logged" in [e["action"] for e in about]
