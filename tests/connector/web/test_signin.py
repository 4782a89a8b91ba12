"""Signing in with Microsoft or Google, people who are not users, cancelled and forged sign-ins, signing out."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from tests.connector.web.conftest import Site, back_from_idp, csrf_of, flash_of, idp_answer, sign_in, sqlite_only

pytestmark = sqlite_only  # forms and flows; their queries run on both databases in the records and API stories


def test_a_signed_out_visitor_is_sent_to_sign_in_and_comes_back_where_they_were_going(
        client: TestClient, site: Site) -> None:
    answer = client.get(f"/records/{site.world.matter.id}")
    assert answer.status_code == 303 and answer.headers["location"] == f"/signin?next=/records/{site.world.matter.id}"
    page = client.get("/signin?next=/records/1").text
    assert "Sign in with Microsoft" in page and "Sign in with Google" in page
    assert 'action="/signin/microsoft?next=/records/1"' in page


def test_alice_signs_in_with_microsoft_and_sees_her_company(client: TestClient, site: Site) -> None:
    sign_in(client, site, "alice@acme-law.com")
    page = client.get("/records").text
    assert "Acme Law" in page and "alice@acme-law.com" in page and "Smith v. Jones" in page
    assert "Other v. Acme" not in page  # the other company's matter


def test_alice_signs_in_with_google(client: TestClient, site: Site) -> None:
    site.idps.gmail.set_consent("approve", user="alice@acme-law.com")
    started = client.post("/signin/google", data={"csrf": csrf_of(client.get("/signin").text)})
    assert started.status_code == 303 and "select_account" in started.headers["location"]
    back = back_from_idp(client, site.idps, started.headers["location"])
    assert back.status_code == 303 and back.headers["location"] == "/records"
    assert "alice@acme-law.com" in client.get("/me").text


def test_someone_who_is_not_a_user_is_told_so(client: TestClient, site: Site) -> None:
    site.idps.graph.set_consent("approve", login_user="stranger@elsewhere.example")
    started = client.post("/signin/microsoft", data={"csrf": csrf_of(client.get("/signin").text)})
    answer = back_from_idp(client, site.idps, started.headers["location"])
    assert answer.status_code == 403
    assert "stranger@elsewhere.example is not a user here" in answer.text
    assert client.get("/records").status_code == 303  # still signed out


def test_a_cancelled_sign_in_says_it_was_cancelled(client: TestClient, site: Site) -> None:
    site.idps.graph.set_consent("deny")
    started = client.post("/signin/microsoft", data={"csrf": csrf_of(client.get("/signin").text)})
    answer = back_from_idp(client, site.idps, started.headers["location"])
    assert answer.headers["location"] == "/signin"
    assert flash_of(client.get("/signin").text) == ["Sign-in with Microsoft was cancelled."]


def test_a_callback_this_browser_did_not_start_signs_nobody_in(client: TestClient, site: Site) -> None:
    site.idps.graph.set_consent("approve", login_user="alice@acme-law.com")
    with TestClient(site.app, follow_redirects=False) as attacker:
        started = attacker.post("/signin/microsoft", data={"csrf": csrf_of(attacker.get("/signin").text)})
        path, answer_fields, posted = idp_answer(site.idps, started.headers["location"])
    assert posted  # Microsoft posts its answer (response_mode=form_post): the code is never in a URL
    # The victim's browser is made to post the attacker's answer (login CSRF).
    relayed = client.post(path, data=answer_fields)
    answer = client.get(relayed.headers["location"])
    assert answer.headers["location"] == "/signin"
    assert "expired or was started in another browser" in flash_of(client.get("/signin").text)[0]
    # Its own sign-in, answered with a state from elsewhere, is refused too.
    client.post("/signin/microsoft", data={"csrf": csrf_of(client.get("/signin").text)})
    forged = client.get(f"/signin/microsoft/callback?code={answer_fields['code']}&state=forged")
    assert forged.headers["location"] == "/signin"
    assert "does not belong to this sign-in" in flash_of(client.get("/signin").text)[0]
    assert client.get("/records").status_code == 303


def test_signing_out_ends_the_session(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "bob@acme-law.com")
    assert client.post("/signout", data={}).status_code == 403  # needs the CSRF token like every form
    assert client.post("/signout", data={"csrf": csrf}).headers["location"] == "/signin"
    assert client.get("/me").status_code == 303


def test_a_user_whose_microsoft_sign_in_name_is_not_her_address_signs_in_as_her_address(
        client: TestClient, site: Site) -> None:
    from connector.db import transaction
    from connector.services import users

    with transaction(site.world.engine) as session:
        users.create_user(session, site.world.tenant, "dana@acme-law.com", "Dana Dunn")
    site.idps.graph.add_user("dana@acme-law.com", "Dana Dunn", site.idps.sandbox.apps.graph_tenant,
                             upn="d.dunn@acmelaw.onmicrosoft.com")
    site.idps.graph.set_consent("approve", login_user="d.dunn@acmelaw.onmicrosoft.com")
    started = client.post("/signin/microsoft", data={"csrf": csrf_of(client.get("/signin").text)})
    answer = back_from_idp(client, site.idps, started.headers["location"])
    assert answer.status_code == 303 and answer.headers["location"] == "/records", flash_of(client.get("/signin").text)
    assert "dana@acme-law.com" in client.get("/me").text


def test_google_sign_in_suggests_the_account_this_browser_signed_in_with_last(client: TestClient, site: Site) -> None:
    site.idps.gmail.set_consent("approve", user="bob@acme-law.com")
    first = client.post("/signin/google", data={"csrf": csrf_of(client.get("/signin").text)})
    assert "login_hint" not in first.headers["location"]  # nobody known yet
    assert back_from_idp(client, site.idps, first.headers["location"]).headers["location"] == "/records"
    csrf = csrf_of(client.get("/me").text)
    assert client.post("/signout", data={"csrf": csrf}).headers["location"] == "/signin"

    site.idps.gmail.set_consent("interactive")
    again = client.post("/signin/google", data={"csrf": csrf_of(client.get("/signin").text)})
    assert "login_hint=bob%40acme-law.com" in again.headers["location"]
    chooser = httpx.get(again.headers["location"]).text  # the emulated Google page preselects Bob
    assert 'value="bob@acme-law.com" checked' in chooser and "Emulated Google sign-in — not Google" in chooser
