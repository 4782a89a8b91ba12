"""My settings: the capture switch and its three levels, the personal address (copy, vCard, regenerate),
authorized sender addresses with their verification codes, and exclusions."""

from __future__ import annotations

import vobject
from fastapi.testclient import TestClient
from sqlmodel import select

from connector.db import transaction
from connector.models import Tenant, User
from connector.routing.decision import Outcome, Reason
from connector.services import tenants
from tests.connector.web.conftest import Site, flash_of, sign_in, sqlite_only, text_of
from tests.mailbuilder import mail, to_dropbox

pytestmark = sqlite_only  # forms and flows; their queries run on both databases in the records and API stories


def address_of(site: Site, email: str) -> str:
    with site.world.session() as session:
        user = session.exec(select(User).where(User.email == email)).one()
        return f"dropbox-{user.dropbox_token}@bcc.example.com"


def post(client: TestClient, csrf: str, url: str, **data: str) -> list[str]:
    """Submit a form, follow the redirect, return the messages the page shows."""
    answer = client.post(url, data={"csrf": csrf, **data})
    assert answer.status_code == 303, answer.text
    return flash_of(client.get(answer.headers["location"]).text)


def test_alice_switches_capture_off_and_on(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    assert ">On</span>" in client.get("/me").text
    assert post(client, csrf, "/me/capture", enabled="off") == ["Email capture is off for you."]
    assert post(client, csrf, "/me/capture", enabled="on") == ["Email capture is on for you."]


def test_the_page_names_the_missing_level_when_capture_cannot_be_enabled(client: TestClient, site: Site) -> None:
    with transaction(site.engine) as session:  # Administrators have the permission unless it is taken away
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None
        tenants.revoke(session, tenants.get_role(session, tenant, "Administrator"))
    csrf = sign_in(client, site, "ada@acme-law.com")
    assert "the user's role lacks the 'use email capture' permission (level 2)" in text_of(client.get("/me").text)
    assert post(client, csrf, "/me/capture", enabled="on") == [
        "Cannot enable capture for ada@acme-law.com: the user's role lacks the 'use email capture' "
        "permission (level 2)"]
    with transaction(site.engine) as session:
        tenant = session.get(Tenant, site.world.tenant.id)
        assert tenant is not None
        tenants.grant(session, tenants.get_role(session, tenant, "Administrator"))
        tenants.set_enabled(session, tenant, False)
    assert "the company has not enabled email capture (level 1)" in client.get("/me").text


def test_the_vcard_holds_the_personal_address(client: TestClient, site: Site) -> None:
    sign_in(client, site, "alice@acme-law.com")
    mine = address_of(site, "alice@acme-law.com")
    page = client.get("/me").text
    assert f'<code id="my-address" class="address">{mine}</code>' in page and 'data-copy="my-address"' in page
    card = client.get("/me/vcard")
    assert card.headers["content-type"].startswith("text/vcard")
    assert "attachment" in card.headers["content-disposition"]
    assert vobject.readOne(card.text).email.value == mine


def test_regenerating_the_address_needs_confirmation_and_retires_the_old_one(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    old = address_of(site, "alice@acme-law.com")
    assert old in client.get("/me/address/regenerate").text  # the confirmation step names what stops working
    assert post(client, csrf, "/me/address/regenerate") == [
        "Tick the box to confirm that the old address should stop working"]
    assert address_of(site, "alice@acme-law.com") == old
    shown = post(client, csrf, "/me/address/regenerate", confirm="yes")
    new = address_of(site, "alice@acme-law.com")
    assert new != old and shown == [f"Your new address is {new}. Mail to {old} is now refused."]
    refused = site.capture.process(to_dropbox(mail("Alice Archer <alice@acme-law.com>", ["carol@clientco.com"],
                                                   bcc=[old], subject="To the old address")))
    assert (refused.outcome, refused.reason) == (Outcome.REFUSED, Reason.RETIRED_ADDRESS)
    logged = site.capture.process(to_dropbox(mail("Alice Archer <alice@acme-law.com>", ["carol@clientco.com"],
                                                  bcc=[new], subject="To the new address")))
    assert logged.outcome is Outcome.LOGGED


def test_alice_authorizes_another_sender_address_with_the_code_sent_to_it(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    assert post(client, csrf, "/me/senders", email="not an address") == ["'not an address' is not an e-mail address"]
    assert post(client, csrf, "/me/senders", email="Alice.Home@Example.org") == [
        "We sent a verification code to alice.home@example.org. Enter it below to authorize that address."]
    assert "Waiting for code" in client.get("/me").text
    code = site.codes.code_for("alice.home@example.org")
    wrong = "000000" if code != "000000" else "111111"
    assert post(client, csrf, "/me/senders/verify", email="alice.home@example.org", code="") == [
        "Enter the code we sent to that address"]
    assert post(client, csrf, "/me/senders/verify", email="alice.home@example.org", code=wrong) == [
        "Wrong verification code for alice.home@example.org"]
    assert post(client, csrf, "/me/senders/verify", email="alice.home@example.org", code=code) == [
        "alice.home@example.org is now an authorized sender address."]
    assert post(client, csrf, "/me/senders", email="alice.home@example.org") == [
        "Alice.home@example.org is already on the list"]
    assert post(client, csrf, "/me/senders/remove", email="alice.home@example.org") == [
        "alice.home@example.org is no longer authorized."]


def test_at_most_five_extra_sender_addresses(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "bob@acme-law.com")
    for n in range(5):
        post(client, csrf, "/me/senders", email=f"bob{n}@example.org")
    assert "the most allowed" in client.get("/me").text  # the form is gone…
    assert post(client, csrf, "/me/senders", email="bob5@example.org") == [  # …and the server says no anyway
        "At most 5 extra sender addresses per user"]
    assert post(client, csrf, "/me/senders", email="bob0@example.org") == [  # a new code for one waiting
        "We sent a verification code to bob0@example.org. Enter it below to authorize that address."]


def test_alice_keeps_newsletters_out_of_her_contacts(client: TestClient, site: Site) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    assert post(client, csrf, "/me/exclusions", pattern="newsletters") == ["'newsletters' is not an e-mail address"]
    assert post(client, csrf, "/me/exclusions", pattern="@Newsletters.example") == [
        "@newsletters.example will never be treated as a contact in your mail."]
    assert "@newsletters.example" in client.get("/me").text
    assert post(client, csrf, "/me/exclusions/remove", pattern="@newsletters.example") == [
        "@newsletters.example is off your exclusion list."]
    assert post(client, csrf, "/me/exclusions/remove", pattern="@newsletters.example") == [
        "@newsletters.example is not on the exclusion list"]  # sic: a pattern starts lower-case
