"""Every form in the console needs the session's CSRF token: without it, or with another, nothing happens (403)."""

from __future__ import annotations

import html
import re

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import select

from connector.models import SenderAddress, Tenant
from connector.services import api_tokens
from connector.web import form_post
from tests.connector.web.conftest import Site, csrf_of, log_matter_mail, sign_in, sqlite_only
from tests.mailbuilder import mail, to_dropbox

FORM = re.compile(r'<form[^>]*method="post"[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S | re.I)

pytestmark = sqlite_only  # forms and flows; their queries run on both databases in the records and API stories


def console_post_paths(site: Site) -> list[str]:
    """Every POST route of the console (not the token-authenticated API, not the provider webhooks, not the
    identity providers' posted answers: those only hand their fields to the callback's GET, which checks the
    pending sign-in's state — see test_signin's login-CSRF story)."""
    found = []
    for route in site.app.routes:
        router = getattr(route, "original_router", None)
        for candidate in (router.routes if router is not None else [route]):
            if isinstance(candidate, APIRoute) and "POST" in candidate.methods and not candidate.path.startswith(
                    ("/api/", "/webhooks/")) and candidate.endpoint is not form_post.relay:
                found.append(candidate.path)
    return sorted(found)


def concrete(path: str, site: Site) -> str:
    ids = {"{role_id}": "1", "{token_id}": "1", "{mailbox_id}": "1", "{activity_id}": "1", "{unassigned_id}": "1",
           "{user_id}": "1", "{record_id}": "1", "{attachment_id}": "1", "{provider}": "gmail", "{name}": "microsoft"}
    for placeholder, value in ids.items():
        path = path.replace(placeholder, value)
    return path


def test_every_console_form_refuses_a_missing_or_wrong_csrf_token(client: TestClient, site: Site) -> None:
    paths = console_post_paths(site)
    assert {"/me/capture", "/me/senders", "/admin/domain/verify", "/activities/{activity_id}/unlog",
            "/unassigned/{unassigned_id}/link", "/admin/tokens", "/signin/{name}", "/signout",
            "/admin/users/{user_id}/role", "/admin/users/{user_id}/active"} <= set(paths)
    sign_in(client, site, "ada@acme-law.com")
    for path in paths:
        url = concrete(path, site)
        fields = {"enabled": "off", "name": "sneaky", "domain": "evil.example", "email": "eve@evil.example"}
        for data in (fields, {**fields, "csrf": "forged-token"}):
            answer = client.post(url, data=data)
            assert answer.status_code == 403, (url, data, answer.status_code)
            assert "did not come from this site" in answer.text
    with site.world.session() as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None and (tenant.domain, tenant.enabled) == ("acme-law.com", True)
        assert api_tokens.list_tokens(session, tenant) == []
        assert session.exec(select(SenderAddress)).all() == []
    assert client.get("/me").status_code == 200  # still signed in: /signout did nothing either


def test_a_token_from_another_session_does_not_work(client: TestClient, site: Site) -> None:
    theirs = sign_in(client, site, "bob@acme-law.com")
    with TestClient(site.app, follow_redirects=False) as other_browser:
        sign_in(other_browser, site, "alice@acme-law.com")
        assert other_browser.post("/me/capture", data={"enabled": "off", "csrf": theirs}).status_code == 403


def test_every_form_on_every_page_carries_the_csrf_token(client: TestClient, site: Site) -> None:
    """Each form a page shows posts to a route the test above covers, with the session's token in it."""
    activity_id = log_matter_mail(site)
    site.capture.process(to_dropbox(mail("Bob Baker <bob@acme-law.com>", ["quinn@newclient.example"],
                                         bcc=["notes@bcc.example.com"], subject="Intro call")))
    forms: dict[str, list[str]] = {}
    signin = client.get("/signin").text
    forms["/signin"] = FORM.findall(signin)
    csrf = sign_in(client, site, "ada@acme-law.com")
    client.post("/me/senders", data={"csrf": csrf, "email": "ada.home@example.org"})
    client.post("/admin/tokens", data={"csrf": csrf, "name": "probe"})
    client.post("/me/exclusions", data={"csrf": csrf, "pattern": "@news.example"})
    pages = ["/records", f"/records/{site.world.matter.id}", "/unassigned", "/audit", "/mailboxes", "/me",
             "/me/address/regenerate", f"/activities/{activity_id}/unlog", "/admin", "/admin/users", "/admin/tokens"]
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, url
        forms[url] = FORM.findall(page.text)
    routes = [re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(p)) + "$") for p in console_post_paths(site)]
    seen = 0
    for url, found in forms.items():
        for action, body in found:
            target = html.unescape(action).split("?")[0]
            assert any(r.match(target) for r in routes), (url, target)
            assert f'name="csrf" value="{csrf if url != "/signin" else csrf_of(signin)}"' in body, (url, target)
            seen += 1
    assert seen >= 25 and {len(found) > 0 for found in forms.values()} == {True}
