"""End to end in headless Chromium against the running console (uvicorn) and the Microsoft and Google
emulators: sign in, prove a domain, read the Communications tab, regenerate the address, connect Gmail
and Outlook, and find nothing of another company. Screenshots of the main pages
go to tests/artifacts/ (and the Communications tab and the connect page to docs/screenshots/)."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from connector.routing.decision import Outcome, Reason
from tests.connector.web.conftest import ALICE, PDF, Site, log_matter_mail, sqlite_only
from tests.mailbuilder import DATE, in_mailbox, mail, to_dropbox

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS, DOCS = ROOT / "tests" / "artifacts", ROOT / "docs" / "screenshots"
pytestmark = [pytest.mark.browser, sqlite_only,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")]


# ------------------------------------------------------------------------------------------ fixtures
class LiveServer:
    """The console served by uvicorn on a free loopback port, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the console did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.socket.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture
def live(site: Site) -> Iterator[str]:
    with LiveServer(site.app) as server:
        site.context.public_url = server.url
        site.idps.register(server.url)
        yield server.url


@pytest.fixture
def page(chromium: Any, live: str) -> Iterator[Any]:
    # The Microsoft identity emulator serves https with a throwaway CA the browser does not know.
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, ignore_https_errors=True,
                                   base_url=live)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Any, site: Site, email: str) -> None:
    site.idps.graph.set_consent("approve", login_user=email)  # the consent screen answers at once
    page.goto("/signin")
    page.get_by_role("button", name="Sign in with Microsoft").click()
    page.wait_for_url("**/records")


def shoot(page: Any, name: str, docs: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    if docs:
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, DOCS / f"{name}.png")


def seed_matter_mail(site: Site) -> None:
    """A realistic Communications tab: a sent mail with an attachment, the client's reply read from Alice's
    mailbox (no Bcc), and an HTML mail whose script must never run."""
    log_matter_mail(site, "Settlement draft", "<m1@acme-law.com>", date=DATE, attachments=[PDF],
                    body="Carol,\n\nattached is the settlement draft we discussed. Clause 4 covers the\n"
                         "payment schedule; clause 7 the confidentiality terms.\n\nBest,\nAlice\n")
    reply = mail("Carol Client <carol@clientco.com>", [ALICE], subject="Re: Settlement draft",
                 message_id="<m2@clientco.com>", in_reply_to="<m1@acme-law.com>", references=["<m1@acme-law.com>"],
                 date=DATE + timedelta(hours=3), body="Thanks Alice — looks good. One question on clause 4:\n"
                                                      "can the first payment move to May?\n\nCarol\n")
    site.capture.process(in_mailbox(reply, "alice@acme-law.com"))
    html = ("<h2 style='color:#1f4fd1'>Hearing on 14 April</h2><p>Dear Carol, dear Hank,</p>"
            "<p>the court <b>confirmed</b> the hearing for <i>14 April, 10:00</i>.</p>"
            "<script>parent.document.body.dataset.pwned = 'yes'</script>")
    site.capture.process(to_dropbox(mail(
        ALICE, ["Carol Client <carol@clientco.com>", "Hank Scorpio <hank@globex.com>"],
        bcc=["acme+10802@bcc.example.com"], subject="Hearing on 14 April", message_id="<m3@acme-law.com>",
        date=DATE + timedelta(days=1), body="Dear Carol, dear Hank,\n\nthe court confirmed the hearing for "
                                             "14 April, 10:00.\n", html=html)))


# ------------------------------------------------------------------------------------------- stories
def test_an_admin_proves_the_domain_and_enables_the_company(page: Any, site: Site) -> None:
    sign_in(page, site, "ada@acme-law.com")
    page.get_by_role("link", name="Admin").click()
    page.get_by_label("Domain", exact=True).fill("acme-legal.example")
    page.get_by_role("button", name="Change domain").click()
    record = page.locator("#txt-record").inner_text()
    assert record.startswith("bcc-capture-verification=")
    page.get_by_role("button", name="Verify the domain").click()
    assert "DNS check failed: acme-legal.example does not exist (NXDOMAIN)" in page.get_by_role("alert").inner_text()
    site.dns.publish("acme-legal.example", record)
    page.get_by_role("button", name="Verify the domain").click()
    assert "acme-legal.example is verified" in page.get_by_role("status").first.inner_text()
    page.get_by_role("button", name="Enable for the company").click()
    assert page.locator("#domain-title + .badge").inner_text() == "Enabled"
    shoot(page, "admin")


def test_alice_signs_in_with_microsoft_and_reads_the_communications_tab(page: Any, site: Site) -> None:
    seed_matter_mail(site)
    sign_in(page, site, "alice@acme-law.com")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"  # keyboard first stop
    page.get_by_role("link", name="10802 Smith v. Jones").click()
    threads = page.locator(".thread-title").all_inner_texts()
    assert [t.split("\n")[0].rsplit(" ", 2)[0] for t in threads] == ["Hearing on 14 April", "Settlement draft"]
    settlement = page.locator("section.thread", has_text="Settlement draft")
    assert settlement.locator(".dir").all_inner_texts() == ["↗ Sent", "↙ Received"]
    assert "can the first payment move to May?" in settlement.inner_text()
    assert settlement.get_by_role("link", name="brief.pdf").count() == 1
    page.get_by_text("Show original formatting").click()
    frame = page.frame_locator("iframe[sandbox='']")
    assert "confirmed" in frame.locator("body").inner_text()
    assert page.evaluate("document.body.dataset.pwned") is None  # the mail's script never ran
    page.get_by_role("button", name="Copy the dropbox address of this record").click()
    sync_api.expect(page.locator(".dropbox-box .copied")).to_have_text(re.compile("Copied|Selected"))
    shoot(page, "communications", docs=True)
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "communications-phone")


def test_alice_regenerates_her_address_and_the_old_one_is_refused(page: Any, site: Site) -> None:
    sign_in(page, site, "alice@acme-law.com")
    page.get_by_role("link", name="My settings").click()
    old = page.locator("#my-address").inner_text()
    shoot(page, "settings")
    page.get_by_role("link", name="Regenerate address…").click()
    page.get_by_label("I understand that the old address will stop working").check()
    page.get_by_role("button", name="Regenerate address").click()
    new = page.locator("#my-address").inner_text()
    assert new != old and f"Your new address is {new}. Mail to {old} is now refused." in page.get_by_role(
        "status").first.inner_text()
    refused = site.capture.process(to_dropbox(mail(ALICE, ["carol@clientco.com"], bcc=[old], subject="Old one")))
    assert (refused.outcome, refused.reason) == (Outcome.REFUSED, Reason.RETIRED_ADDRESS)


def test_another_companys_record_is_not_found(page: Any, site: Site) -> None:
    sign_in(page, site, "ada@acme-law.com")
    answer = page.goto(f"/records/{site.other.record_id}")
    assert answer is not None and answer.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Not found"
    assert "Other v. Acme" not in page.content()


def test_alice_connects_gmail_through_googles_consent_page(page: Any, site: Site) -> None:
    sign_in(page, site, "alice@acme-law.com")
    site.idps.gmail.set_consent("interactive", user="alice@acme-law.com")
    page.get_by_role("link", name="Mailboxes").click()
    shoot(page, "connect", docs=True)
    page.get_by_role("button", name="Connect Gmail").click()
    page.wait_for_url("**/o/oauth2/**")  # Google's (emulated) consent screen
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url("**/mailboxes")
    assert "Gmail mailbox alice@acme-law.com is connected." in page.get_by_role("status").first.inner_text()
    assert page.locator(".mailbox .badge").first.inner_text() == "Connecting"
    shoot(page, "mailboxes-connected")


def test_alice_connects_outlook_through_microsofts_consent_page(page: Any, site: Site) -> None:
    sign_in(page, site, "alice@acme-law.com")
    site.idps.graph.set_consent("page", login_user="alice@acme-law.com")
    page.get_by_role("link", name="Mailboxes").click()
    page.get_by_role("button", name="Connect Outlook").click()
    page.get_by_role("button", name="Accept").click()
    page.wait_for_url("**/mailboxes")
    assert "Outlook mailbox alice@acme-law.com is connected." in page.get_by_role("status").first.inner_text()


PAYLOAD = "<img src=x onerror=\"document.body.dataset.pwned='{field}'\">"


def test_markup_in_every_mail_field_is_shown_as_text_and_never_runs(page: Any, site: Site) -> None:
    """A hostile sender puts markup in each field a page shows: subject, display names, addresses' names,
    the text, an attachment's name, a note; logged, unassigned and refused mail; none of it may run."""
    def payload(field: str) -> str:
        return PAYLOAD.format(field=field)

    attachment = (f"{payload('attachment')}.pdf", "application/pdf", b"%PDF-1.4")
    site.capture.process(to_dropbox(mail(
        f"\"Alice {payload('from')}\" <alice@acme-law.com>", [f"\"Carol {payload('to')}\" <carol@clientco.com>"],
        bcc=["acme+10802@bcc.example.com"], subject=f"Filed {payload('subject')} #CO99999",
        message_id="<x1@acme-law.com>", body=f"Body {payload('text')}", attachments=[attachment])))
    site.capture.process(to_dropbox(mail(
        f"\"Alice {payload('unassigned-from')}\" <alice@acme-law.com>", ["nobody@unknown.example"],
        bcc=["notes@bcc.example.com"], subject=f"Waiting {payload('unassigned-subject')}",
        message_id="<x2@acme-law.com>")))
    site.capture.process(to_dropbox(mail(
        f"\"Mallory {payload('refused-from')}\" <m@evil.example>", ["carol@clientco.com"],
        bcc=["acme+10802@bcc.example.com"], subject=f"Refused {payload('refused-subject')}",
        message_id="<x3@evil.example>")))
    sign_in(page, site, "alice@acme-law.com")
    for path in ("/records", "/unassigned", "/audit"):
        page.goto(path)
        page.wait_for_load_state("load")
        assert page.evaluate("document.body.dataset.pwned") is None, path
    page.goto("/records")
    page.get_by_role("link", name="10802 Smith v. Jones").click()
    page.wait_for_load_state("load")
    body = page.locator("main").inner_text()
    assert "Filed <img src=x" in body and f"Body {payload('text')}" in body  # shown as the sender wrote it
    assert page.evaluate("document.body.dataset.pwned") is None
    assert page.locator("main img[src='x']").count() == 0
