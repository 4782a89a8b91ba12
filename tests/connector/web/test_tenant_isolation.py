"""Another company's administrator, with their own console session and their own API token, tries every route
of the console and every path of the OpenAPI document with Acme's ids: each answers 404 — exactly like an
id that does not exist — and nothing of Acme's changes. The lists show none of Acme's rows either.

The routes are read from the app itself, so a new route with an id is crawled too; one whose id this
test cannot fill makes it fail until it is taught."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from connector.config import ImportSettings
from connector.crypto import TokenCipher
from connector.db import transaction
from connector.models import (
    Activity,
    ApiToken,
    Attachment,
    EventOutbox,
    LegalHold,
    Mailbox,
    Record,
    RolePermission,
    Tenant,
    Unassigned,
    User,
    Wall,
    WebhookDelivery,
    WebhookEndpoint,
)
from connector.services import api_tokens, holds, import_jobs, mailboxes, tenants, users, walls
from connector.services.import_spool import Upload, new_upload
from connector.services.quarantine import quarantine
from tests.connector.web.conftest import PDF, Site, log_matter_mail, sign_in
from tests.mailbuilder import mail, to_dropbox


@dataclass(frozen=True)
class AcmeIds:
    record_id: int
    activity_id: int
    attachment_id: int
    unassigned_id: int
    mailbox_id: int
    role_id: int
    token_id: int
    user_id: int
    quarantine_id: int
    wall_id: int
    import_id: int
    endpoint_id: int
    delivery_id: int
    hold_id: int
    external_id: str  # the host system's id of Acme's matter and of Alice (records and users share the name)


NOT_IDS = {"provider": "gmail", "name": "microsoft", "kind": "matter"}  # segments that name no company's row
# An upsert by external id writes in the caller's own company: another company's PUT can only make its own record.
UPSERTS = {("put", "/api/v1/records/{kind}/{external_id}"): {"number": "10802", "title": "Theirs"},
           ("put", "/api/v1/users/{external_id}"): {"email": "quinn@other.example", "name": "Quinn"}}




@pytest.fixture
def acme(site: Site, tmp_path: Path) -> AcmeIds:
    activity_id = log_matter_mail(site, "Acme's privileged draft", attachments=[PDF])
    kept = site.capture.process(to_dropbox(mail("Bob Baker <bob@acme-law.com>", ["quinn@newclient.example"],
                                                bcc=["notes@bcc.example.com"], subject="Acme's unassigned")))
    with transaction(site.engine) as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        alice = session.get(User, site.world.alice.id)
        assert tenant is not None and alice is not None and kept.unassigned_id is not None
        mailbox = mailboxes.connect(session, alice, "graph", "{}", TokenCipher.from_settings(site.settings))
        token, _ = api_tokens.create_token(session, tenant, "Acme's sync")
        role = tenants.get_role(session, tenant, "Standard User")
        attachment = session.exec(select(Attachment).where(Attachment.activity_id == activity_id)).one()
        held = quarantine(session, mail("Alice <alice@acme-law.com>", ["carol@clientco.com"], subject="Acme's held"),
                          "unauthenticated_sender", source="smtp", tenant_id=tenant.id, user_id=alice.id)
        wall = walls.add_wall(session, tenant, "project:1001", "bob@acme-law.com", by="ada@acme-law.com").wall
        imported = import_jobs.create_job(session, tenant, _upload(tmp_path), "api", "API token Acme's sync")
        endpoint, delivery = _webhook(session, tenant.id or 0)
        matter = session.get(Record, site.world.matter.id)
        assert matter is not None
        matter.external_id = alice.external_id = "ACME-1"
        hold = holds.place(session, tenant, matter, "Litigation expected", by="ada@acme-law.com")
        assert mailbox.id and token.id and role.id and attachment.id and alice.id and held.id and wall.id
        assert imported.id and hold.id
        return AcmeIds(site.world.matter.id or 0, activity_id, attachment.id, kept.unassigned_id, mailbox.id,
                       role.id, token.id, alice.id, held.id, wall.id, imported.id, endpoint, delivery, hold.id,
                       "ACME-1")


def _webhook(session: Session, tenant_id: int) -> tuple[int, int]:
    """Acme's CRM endpoint and one delivery to it."""
    endpoint = WebhookEndpoint(tenant_id=tenant_id, url="https://crm.acme-law.com/hooks", secret="sealed")
    event = EventOutbox(id="evt_acme", tenant_id=tenant_id, type="activity.logged")
    session.add_all([endpoint, event])
    session.flush()
    assert endpoint.id is not None
    delivery = WebhookDelivery(tenant_id=tenant_id, event_id=event.id, endpoint_id=endpoint.id)
    session.add(delivery)
    session.flush()
    assert delivery.id is not None
    return endpoint.id, delivery.id


def _upload(spool: Path) -> Upload:
    """An archive Acme uploaded (not yet imported)."""
    upload = new_upload(ImportSettings(spool_dir=str(spool)))
    upload.begin("acme.eml")
    upload.write(mail("Alice <alice@acme-law.com>", ["carol@clientco.com"], subject="Acme's archive"))
    upload.end()
    return upload


@pytest.fixture
def oscar(client: TestClient, site: Site) -> str:
    """Oscar administers the other company (and is signed in to the console); returns his CSRF token."""
    with transaction(site.engine) as session:
        other = session.get(Tenant, site.other.tenant.id)
        assert other is not None and site.other.oscar.id is not None
        users.set_role(session, other, site.other.oscar.id, tenants.get_role(session, other, "Administrator").id or 0)
    return sign_in(client, site, "oscar@other.example")


@pytest.fixture
def their_token(site: Site) -> dict[str, str]:
    with transaction(site.engine) as session:
        other = session.get(Tenant, site.other.tenant.id)
        assert other is not None
        secret = api_tokens.create_token(session, other, "Other sync")[1]
    return {"Authorization": f"Bearer {secret}"}


def routes(site: Site) -> list[tuple[str, str]]:
    found = []
    for route in site.app.routes:
        router = getattr(route, "original_router", None)
        for candidate in (router.routes if router is not None else [route]):
            if isinstance(candidate, APIRoute):
                found.extend((method, candidate.path) for method in sorted(candidate.methods))
    return found


def filled(path: str, ids: AcmeIds) -> str | None:
    """``path`` with Acme's ids in it; None when it names no company row (nothing to cross)."""
    names = {**asdict(ids), **NOT_IDS}
    params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    unknown = [p for p in params if p not in names]
    assert not unknown, f"{path}: teach this crawl which of Acme's ids {unknown} stands for"
    if not any(p in asdict(ids) for p in params):
        return None
    for name, value in names.items():
        path = path.replace("{" + name + "}", str(value))
    return path


def test_every_console_route_with_an_id_is_404_for_another_company(client: TestClient, site: Site, acme: AcmeIds,
                                                                   oscar: str) -> None:
    crawled = []
    for method, path in routes(site):
        url = filled(path, acme)
        if url is None or path.startswith(("/api/", "/webhooks/")):
            continue
        form = {"csrf": oscar, "granted": "off", "active": "off", "role_id": str(acme.role_id),
                "contacts": "carol@clientco.com", "back": "/records"}
        answer = client.request(method, url, data=form if method == "POST" else None)
        assert answer.status_code == 404, (method, url, answer.status_code)
        assert "There is nothing here." in answer.text
        crawled.append((method, path))
    assert len(crawled) >= 10, crawled
    assert_acme_untouched(site, acme)


def test_every_api_path_with_an_id_is_404_for_another_companys_token(client: TestClient, site: Site, acme: AcmeIds,
                                                                     their_token: dict[str, str]) -> None:
    schema = client.get("/openapi.json").json()
    crawled = []
    for path, operations in schema["paths"].items():
        for method in operations:
            url = filled(path, acme)
            if url is None or not path.startswith("/api/"):
                continue
            if (method, path) in UPSERTS:  # last: its record would then answer their reads
                continue
            body = ({"contacts": ["carol@clientco.com"]} if method == "post" and "link" in path
                    else {"visibility": "company"} if path.endswith("/visibility") else None)
            answer = client.request(method.upper(), url, json=body, headers=their_token)
            assert answer.status_code == 404, (method, url, answer.status_code, answer.text)
            crawled.append((method, path))
    assert len(crawled) >= 6, crawled
    for (method, path), body in UPSERTS.items():
        answer = client.request(method.upper(), filled(path, acme) or "", json=body, headers=their_token)
        assert answer.status_code == 201, (method, path, answer.status_code, answer.text)  # a row of their own
    assert_acme_untouched(site, acme)


def test_no_list_shows_another_companys_rows(client: TestClient, site: Site, acme: AcmeIds, oscar: str,
                                             their_token: dict[str, str]) -> None:
    acme_words = ("Smith v. Jones", "privileged draft", "Acme's unassigned", "alice@acme-law.com", "Acme's sync",
                  "acme+10802", "Website relaunch")
    for url in ("/records", "/records?q=smith", "/unassigned", "/audit?action=all", "/mailboxes", "/me", "/admin",
                "/admin/users", "/admin/tokens", "/admin/walls"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert not [w for w in acme_words if w in page.text], url
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        if "get" in operations and path.startswith("/api/") and "{" not in path:
            answer = client.get(path, params={"action": "logged"} if path.endswith("audit") else None,
                                headers=their_token)
            assert answer.status_code == 200, path
            assert not [w for w in acme_words if w in answer.text], path


def assert_acme_untouched(site: Site, acme: AcmeIds) -> None:
    with site.world.session() as session:
        activity = session.get(Activity, acme.activity_id)
        unassigned = session.get(Unassigned, acme.unassigned_id)
        token = session.get(ApiToken, acme.token_id)
        mailbox = session.get(Mailbox, acme.mailbox_id)
        alice = session.get(User, acme.user_id)
        granted = session.exec(select(RolePermission).where(col(RolePermission.role_id) == acme.role_id)).all()
        wall = session.get(Wall, acme.wall_id)
        matter = session.get(Record, acme.record_id)
        hold = session.get(LegalHold, acme.hold_id)
        endpoint = session.get(WebhookEndpoint, acme.endpoint_id)
    assert matter is not None and matter.title == "Smith v. Jones" and matter.archived_at is None
    assert hold is not None and hold.released_at is None
    assert endpoint is not None and endpoint.active
    assert activity is not None and activity.unlogged_at is None
    assert unassigned is not None and unassigned.linked_at is None
    assert token is not None and token.revoked_at is None
    assert mailbox is not None and mailbox.credentials  # a disconnect would have wiped them
    assert alice is not None and alice.active and alice.role_id == acme.role_id and alice.session_epoch == 0
    assert len(granted) == 1
    assert wall is not None
