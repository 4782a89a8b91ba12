"""A host system keeps its records and people in step through the API, by its own ids, and reads what changed
page by page with a cursor — while records keep being added."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from connector.db import transaction
from connector.models import Activity, Tenant
from connector.services import records
from tests.connector.web.conftest import Site, log_matter_mail, sqlite_only
from tests.connector.web.test_api import token_for
from tests.connector.web.test_event_webhooks import MovableClock
from tests.mailbuilder import DATE


def pages(client: TestClient, url: str, headers: dict[str, str], between: object = None) -> list[list[dict]]:
    """Every page, following the Link header; ``between()`` runs after each page (records added meanwhile)."""
    found = []
    while url:
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, answer.text
        found.append(answer.json())
        url = answer.links.get("next", {}).get("url", "")
        if callable(between):
            between()
    return found


def test_the_same_put_twice_is_one_record_and_no_change(client: TestClient, site: Site) -> None:
    clock = MovableClock()
    site.context.clock = clock
    headers = token_for(site)
    body = {"number": "20417", "title": "Estate of Doe"}
    created = client.put("/api/v1/records/matter/MAT-20417", json=body, headers=headers)
    assert created.status_code == 201 and created.json()["dropbox_address"] == "acme+20417@bcc.example.com"
    clock.advance(60)
    again = client.put("/api/v1/records/matter/MAT-20417", json=body, headers=headers)
    assert again.status_code == 200 and again.json() == created.json()  # updated_at untouched
    clock.advance(60)
    renamed = client.put("/api/v1/records/matter/MAT-20417", json={**body, "title": "Estate of J. Doe"},
                         headers=headers).json()
    assert renamed["id"] == created.json()["id"] and renamed["updated_at"] > created.json()["updated_at"]
    listed = client.get("/api/v1/records", params={"kind": "matter", "q": "20417"}, headers=headers).json()
    assert [r["external_id"] for r in listed] == ["MAT-20417"]
    audit = client.get("/api/v1/audit", params={"action": "record_updated"}, headers=headers).json()
    assert [e["detail"]["changed"] for e in audit] == [["title"]]


def test_clashes_and_bad_fields_are_refused_and_archiving_keeps_the_mail(client: TestClient, site: Site) -> None:
    headers = token_for(site)
    activity_id = log_matter_mail(site)
    assert client.put("/api/v1/records/matter/MAT-1", json={"number": "10802"}, headers=headers).status_code == 200
    clash = client.put("/api/v1/records/matter/MAT-2", json={"number": "10802"}, headers=headers)
    assert clash.status_code == 409 and "MAT-1" in clash.json()["detail"]
    no_number = client.put("/api/v1/records/matter/MAT-3", json={"title": "No number"}, headers=headers)
    assert no_number.status_code == 422 and "needs a number" in no_number.json()["detail"]
    assert client.put("/api/v1/records/spaceship/X", json={}, headers=headers).status_code == 422
    orphan = client.put("/api/v1/records/contact/C-9", json={"email": "new@client.example",
                                                             "customer_external_id": "NOPE"}, headers=headers)
    assert orphan.status_code == 422 and "PUT the customer first" in orphan.json()["detail"]
    archived = client.delete("/api/v1/records/matter/MAT-1", headers=headers)
    assert archived.status_code == 200 and archived.json()["archived"] is True
    assert client.get("/api/v1/records", params={"kind": "matter", "q": "10802"}, headers=headers).json() == []
    with_archived = client.get("/api/v1/records", params={"kind": "matter", "q": "10802", "include_archived": "true"},
                               headers=headers).json()
    threads = client.get(f"/api/v1/records/{with_archived[0]['id']}/communications", headers=headers).json()
    assert threads[0]["messages"][0]["activity_id"] == activity_id
    with site.world.session() as session:
        assert session.get(Activity, activity_id) is not None
    assert client.delete("/api/v1/records/matter/MAT-404", headers=headers).status_code == 404
    assert client.get("/api/v1/records/matter/MAT-1", headers=token_for(site, site.other.tenant.id)).status_code == 404


def test_people_by_external_id_roles_and_deactivation(client: TestClient, site: Site) -> None:
    headers = token_for(site)
    put = client.put("/api/v1/users/EMP-7", json={"email": "Dora@Acme-Law.com", "name": "Dora Dee"}, headers=headers)
    assert put.status_code == 201
    assert (put.json()["role"], put.json()["email"]) == ("Standard User", "dora@acme-law.com")
    promoted = client.put("/api/v1/users/EMP-7", json={"email": "dora@acme-law.com", "name": "Dora Dee",
                                                       "role": "Administrator"}, headers=headers)
    assert promoted.status_code == 200 and promoted.json()["role"] == "Administrator"
    adopted = client.put("/api/v1/users/EMP-1", json={"email": "alice@acme-law.com", "name": "Alice Archer"},
                         headers=headers)
    assert adopted.status_code == 200 and adopted.json()["id"] == site.world.alice.id
    taken = client.put("/api/v1/users/EMP-8", json={"email": "oscar@other.example"}, headers=headers)
    assert taken.status_code == 409 and "another company" in taken.json()["detail"]
    assert client.put("/api/v1/users/EMP-9", json={"email": "x@acme-law.com", "role": "Overlord"},
                      headers=headers).status_code == 422
    gone = client.delete("/api/v1/users/EMP-7", headers=headers)
    assert gone.status_code == 200 and gone.json()["active"] is False
    everyone = [u for page in pages(client, "/api/v1/users?limit=2", headers) for u in page]
    assert {u["external_id"] for u in everyone} >= {"EMP-7", "EMP-1"}
    assert len(everyone) == len({u["id"] for u in everyone})
    assert "oscar@other.example" not in {u["email"] for u in everyone}


def test_paging_250_records_returns_each_once_while_records_are_added(client: TestClient, site: Site) -> None:
    headers = token_for(site)
    with transaction(site.engine) as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None
        before = {r.id for r in records.find_records(session, tenant, limit=1000)}
        for n in range(250):
            records.create_record(session, tenant, "project", number=f"P{n:04d}", title=f"Project {n}")
    added: list[int] = []

    def add_one() -> None:
        with transaction(site.engine) as session:
            tenant = session.get(Tenant, site.world.tenant.id)
            assert tenant is not None
            added.append(records.create_record(session, tenant, "matter", number=f"M{len(added)}").id or 0)

    seen = [r["id"] for page in pages(client, "/api/v1/records?limit=40", headers, between=add_one) for r in page]
    assert len(seen) == len(set(seen))  # never twice
    assert set(seen) >= before | {r for r in added[:-1]}  # everything there before, and what came meanwhile
    assert len(set(seen) - before - set(added)) == 250
    assert client.get("/api/v1/records", params={"cursor": "not-ours"}, headers=headers).status_code == 422


@sqlite_only
def test_updated_since_reads_only_what_changed(client: TestClient, site: Site) -> None:
    clock = MovableClock()
    site.context.clock = clock
    headers = token_for(site)
    client.put("/api/v1/records/project/PRJ-1", json={"number": "1001"}, headers=headers)
    since = clock.now + timedelta(seconds=30)
    clock.advance(60)
    client.put("/api/v1/records/project/PRJ-1", json={"number": "1001", "title": "Relaunch, phase 2"}, headers=headers)
    changed = client.get("/api/v1/records", params={"updated_since": since.isoformat()}, headers=headers).json()
    assert [r["external_id"] for r in changed] == ["PRJ-1"]


def test_communications_page_with_the_same_cursor(client: TestClient, site: Site) -> None:
    headers = token_for(site)
    for n in range(5):
        log_matter_mail(site, subject=f"Thread {n}", message_id=f"<t{n}@acme-law.com>", date=DATE + timedelta(hours=n))
    matter = site.world.matter.id
    threads = [t["subject"] for page in pages(client, f"/api/v1/records/{matter}/communications?limit=2", headers)
               for t in page]
    assert threads == [f"Thread {n}" for n in (4, 3, 2, 1, 0)]
