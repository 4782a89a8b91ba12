"""The JSON API: per-company bearer tokens, records and their communications, unassigned mail, mailboxes,
the audit — and another company's ids, which answer 404 exactly like ids that do not exist."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import select

from connector.db import transaction
from connector.models import Activity, AuditEntry, Tenant
from connector.services import api_tokens
from tests.connector.web.conftest import PDF, Site, log_matter_mail, sqlite_only
from tests.mailbuilder import mail, to_dropbox


def token_for(site: Site, tenant_id: int | None = None, name: str = "Practice sync") -> dict[str, str]:
    with transaction(site.engine) as session:
        tenant = session.get(Tenant, tenant_id or site.world.tenant.id)
        assert tenant is not None
        _, token = api_tokens.create_token(session, tenant, name)
    return {"Authorization": f"Bearer {token}"}


def test_no_token_a_wrong_token_or_a_revoked_token_is_401(client: TestClient, site: Site) -> None:
    assert client.get("/api/v1/records").status_code == 401
    assert client.get("/api/v1/records", headers={"Authorization": "Bearer bcc_guess"}).status_code == 401
    assert client.get("/api/v1/records", headers={"Authorization": "Basic YWRhOnB3"}).status_code == 401
    good = token_for(site)
    answer = client.get("/api/v1/mailboxes", headers=good)
    assert answer.status_code == 200
    with transaction(site.engine) as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None
        for row in api_tokens.list_tokens(session, tenant):
            api_tokens.revoke_token(session, tenant, row.id or 0)
            assert row.token_hash not in good["Authorization"]  # only the hash is stored
    denied = client.get("/api/v1/records", headers=good)
    assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Bearer")


def test_a_program_reads_a_matters_communications(client: TestClient, site: Site) -> None:
    activity_id = log_matter_mail(site, attachments=[PDF])
    headers = token_for(site)
    matters = client.get("/api/v1/records", params={"kind": "matter"}, headers=headers).json()
    assert [(m["number"], m["dropbox_address"]) for m in matters] == [("10802", "acme+10802@bcc.example.com")]
    threads = client.get(f"/api/v1/records/{matters[0]['id']}/communications", headers=headers).json()
    [message] = threads[0]["messages"]
    assert message["activity_id"] == activity_id and message["from"] == "Alice Archer <alice@acme-law.com>"
    assert message["direction"] == "sent" and {"email": "carol@clientco.com", "role": "to", "kind": "contact"} in \
        message["participants"]
    [attachment] = message["attachments"]
    download = client.get(attachment["url"], headers=headers)
    assert download.content == PDF[2] and download.headers["content-disposition"].startswith("attachment")
    assert client.get("/api/v1/records", params={"kind": "spaceship"}, headers=headers).status_code == 422


def test_a_program_links_unassigned_mail_and_unlogs_a_mistake(client: TestClient, site: Site) -> None:
    site.capture.process(to_dropbox(mail("Bob Baker <bob@acme-law.com>", ["quinn@newclient.example"],
                                         bcc=["notes@bcc.example.com"], subject="Intro call")))
    headers = token_for(site, name="CRM bridge")
    [waiting] = client.get("/api/v1/unassigned", headers=headers).json()
    assert waiting["subject"] == "Intro call" and waiting["recipients"] == ["quinn@newclient.example"]
    link = f"/api/v1/unassigned/{waiting['id']}/link"
    assert client.post(link, json={"contacts": []}, headers=headers).status_code == 422
    unknown = client.post(link, json={"contacts": ["quinn@newclient.example"]}, headers=headers)
    assert unknown.status_code == 422 and "no contact or lead" in unknown.json()["detail"]
    linked = client.post(link, json={"contacts": ["carol@clientco.com"]}, headers=headers)
    assert linked.status_code == 200 and client.get("/api/v1/unassigned", headers=headers).json() == []
    activity_id = linked.json()["activity_id"]
    unlogged = client.post(f"/api/v1/activities/{activity_id}/unlog", headers=headers)
    assert unlogged.status_code == 200
    with site.world.session() as session:
        activity = session.get(Activity, activity_id)
        assert activity is not None and activity.unlogged_at is not None
    [entry] = client.get("/api/v1/audit", params={"action": "unlogged"}, headers=headers).json()
    assert entry["detail"]["by"] == "API token CRM bridge" and entry["detail"]["subject"] == "Intro call"
    assert client.post(f"/api/v1/activities/{activity_id}/unlog", headers=headers).status_code == 404


def test_mailboxes_and_the_audit_are_the_companys_own(client: TestClient, site: Site) -> None:
    site.capture.process(to_dropbox(mail("Eve <eve@spam.example>", ["alice@acme-law.com"],
                                         bcc=["acme+10802@bcc.example.com"], subject="Cheap pills")))
    headers = token_for(site)
    assert client.get("/api/v1/mailboxes", headers=headers).json() == []  # Oscar's is the other company's
    [refusal] = client.get("/api/v1/audit", params={"action": "refused"}, headers=headers).json()
    assert refusal["reason"] == "unauthorized_sender"
    assert refusal["explanation"] == "the sender is not an authorized address of a user"
    theirs = client.get("/api/v1/mailboxes", headers=token_for(site, site.other.tenant.id)).json()
    assert [(m["address"], m["status"]) for m in theirs] == [("oscar@other.example", "connecting")]


def test_another_companys_ids_are_404_through_the_api(client: TestClient, site: Site) -> None:
    other, headers = site.other, token_for(site)
    for url in (f"/api/v1/records/{other.record_id}", f"/api/v1/records/{other.record_id}/communications",
                f"/api/v1/attachments/{other.attachment_id}", f"/api/v1/mailboxes/{other.mailbox_id}",
                "/api/v1/records/999999"):
        assert client.get(url, headers=headers).status_code == 404, url
    assert client.post(f"/api/v1/unassigned/{other.unassigned_id}/link", json={"contacts": ["olga@client.example"]},
                       headers=headers).status_code == 404
    assert client.post(f"/api/v1/activities/{other.activity_id}/unlog", headers=headers).status_code == 404
    with site.world.session() as session:
        activity = session.get(Activity, other.activity_id)
        assert activity is not None and activity.unlogged_at is None
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "unlogged")).all() == []
    listed = client.get("/api/v1/records", params={"q": "other"}, headers=headers).json()
    assert listed == []


@sqlite_only
def test_the_openapi_document_describes_the_api_and_its_tokens(client: TestClient, site: Site) -> None:
    schema = client.get("/openapi.json").json()
    paths = set(schema["paths"])
    assert {"/api/v1/records", "/api/v1/records/{record_id}/communications", "/api/v1/unassigned/{unassigned_id}/link",
            "/api/v1/mailboxes", "/api/v1/audit", "/api/v1/activities/{activity_id}/unlog"} <= paths
    assert not any(p.split("/")[1] in ("me", "admin", "signin", "records", "oauth") for p in paths)  # console pages
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert client.get("/docs").status_code == 200
