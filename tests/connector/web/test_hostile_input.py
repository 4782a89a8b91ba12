"""Input nobody types but an attacker sends: NUL bytes in every path, query, form field and JSON string (400,
never a 500 — PostgreSQL cannot store them), JSON nested beyond the decoder (400, counted and audited),
LIKE wildcards in searches (characters to find, not "match everything"), and API answers that no cache
keeps."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from connector.db import transaction
from connector.models import AuditEntry, SenderAddress, Tenant
from connector.services import api_tokens, records
from tests.connector.web.conftest import Site, sign_in
from tests.connector.web.test_csrf import concrete

NUL = "a\x00b"


def routes(site: Site, method: str) -> list[APIRoute]:
    found = []
    for route in site.app.routes:
        router = getattr(route, "original_router", None)
        for candidate in (router.routes if router is not None else [route]):
            if isinstance(candidate, APIRoute) and method in candidate.methods:
                found.append(candidate)
    return found


def token(site: Site) -> dict[str, str]:
    with transaction(site.engine) as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None
        return {"Authorization": f"Bearer {api_tokens.create_token(session, tenant, 'probe')[1]}"}


def test_a_nul_byte_anywhere_in_a_url_is_a_400(client: TestClient, site: Site) -> None:
    sign_in(client, site, "ada@acme-law.com")
    headers, tried = token(site), set()
    for route in routes(site, "GET"):
        path = concrete(route.path, site)
        for param in route.dependant.query_params:
            answer = client.get(path, params={param.alias: NUL}, headers=headers)
            assert answer.status_code == 400, (path, param.alias, answer.status_code)
            tried.add((route.path, param.alias))
        for param in route.dependant.path_params:
            answer = client.get(route.path.replace("{" + param.name + "}", "1%00"), headers=headers)
            assert answer.status_code == 400, (route.path, param.name, answer.status_code)
            tried.add((route.path, param.name))
    assert {("/records", "q"), ("/api/v1/records", "kind"), ("/audit", "action"), ("/records/{record_id}", "record_id"),
            ("/api/v1/mailboxes/{mailbox_id}", "mailbox_id")} <= tried and len(tried) >= 15
    page = client.get("/records", params={"q": NUL})
    assert "contains a NUL character" in page.text and page.headers["content-security-policy"]  # a console page
    api = client.get("/api/v1/records", params={"q": NUL}, headers=headers)
    assert api.json() == {"detail": "This request contains a NUL character, which nothing here accepts.",
                          "reason": "nul_byte"}


def test_a_nul_byte_in_any_form_field_is_a_400_and_changes_nothing(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "ada@acme-law.com")
    posts = [r for r in routes(site, "POST") if not r.path.startswith(("/api/", "/webhooks/"))]
    assert len(posts) >= 15
    for route in posts:
        fields = [p.alias for p in route.dependant.body_params] or ["anything"]
        for field in fields:
            answer = client.post(concrete(route.path, site), data={"csrf": csrf, field: NUL})
            assert answer.status_code == 400, (route.path, field, answer.status_code)
    with Session(site.engine) as session:
        assert session.exec(select(SenderAddress)).all() == []
    assert client.get("/me").status_code == 200  # /signout did nothing either


def test_a_nul_byte_in_an_api_json_body_is_a_400(client: TestClient, site: Site) -> None:
    headers = token(site)
    link = f"/api/v1/unassigned/{site.other.unassigned_id}/link"
    for body in ('{"contacts": ["carol\\u0000@clientco.com"]}', '{"contacts\\u0000": []}', '{"contacts": ["\x00"]}'):
        answer = client.post(link, content=body, headers={**headers, "Content-Type": "application/json"})
        assert answer.status_code == 400, (body, answer.status_code)
    # An escaped backslash followed by "u0000" is six ordinary characters: the route answers as usual.
    plain = client.post(link, content='{"contacts": ["\\\\u0000"]}', headers={**headers,
                                                                            "Content-Type": "application/json"})
    assert plain.status_code == 404


def test_json_nested_beyond_the_decoder_is_a_400_counted_and_audited(client: TestClient, site: Site) -> None:
    headers = {**token(site), "Content-Type": "application/json"}
    deep = "[" * 100_000 + "]" * 100_000
    for _ in range(3):
        answer = client.post(f"/api/v1/unassigned/{site.other.unassigned_id}/link", content=deep, headers=headers)
        assert answer.status_code == 400 and answer.json()["reason"] == "nested_too_deeply"
    with Session(site.engine) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.action == "request_rejected")).all()
    assert [(r.source, r.reason) for r in rows] == [("api", "nested_too_deeply")]
    assert rows[0].detail["count"] == 3


def test_search_wildcards_are_characters_to_find(client: TestClient, site: Site) -> None:
    with transaction(site.engine) as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None
        records.create_record(session, tenant, "matter", number="20_1", title="100% retainer")
    sign_in(client, site, "bob@acme-law.com")
    headers = token(site)
    for query, titles in (("%", ["100% retainer"]), ("_", ["100% retainer"]), ("0_1", ["100% retainer"]),
                          ("1%", []), ("\\", []), ("smith", ["Smith v. Jones"])):
        found = client.get("/api/v1/records", params={"q": query}, headers=headers).json()
        assert [r["title"] for r in found] == titles, query
        page = client.get("/records", params={"q": query}).text
        assert sorted(set(re.findall(r"Smith v\. Jones|100% retainer|Website relaunch", page))) == titles, query


def test_no_api_answer_may_be_cached(client: TestClient, site: Site) -> None:
    headers = token(site)
    answers = [client.get("/api/v1/records", headers=headers), client.get("/api/v1/records"),
               client.get(f"/api/v1/records/{site.other.record_id}", headers=headers),
               client.get("/api/v1/records", params={"limit": "0"}, headers=headers),
               client.post(f"/api/v1/activities/{site.other.activity_id}/unlog", headers=headers)]
    assert [a.status_code for a in answers] == [200, 401, 404, 422, 404]
    assert all(a.headers["cache-control"] == "no-store" for a in answers)
