"""Records: the Communications tab, attachments, unlogging a mistake, the unassigned list, the audit,
and another company's ids, which never show whatever the URL says."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import select

from connector.models import Activity, AuditEntry
from connector.routing.decision import Outcome
from tests.connector.web.conftest import ALICE, PDF, Site, flash_of, log_matter_mail, sign_in, sqlite_only, text_of
from tests.mailbuilder import DATE, in_mailbox, mail, to_dropbox

HOSTILE = ('<p>Dear Alice,</p><script>alert("pwned")</script><img src="https://tracker.example/p.gif">'
           '<p onclick="steal()">Thanks</p>')


def test_the_communications_tab_shows_threads_newest_first(client: TestClient, site: Site) -> None:
    log_matter_mail(site, "Settlement draft", "<m1@acme-law.com>", date=DATE, attachments=[PDF])
    reply = mail("Carol Client <carol@clientco.com>", [ALICE], subject="Re: Settlement draft",
                 message_id="<m2@clientco.com>", in_reply_to="<m1@acme-law.com>", references=["<m1@acme-law.com>"],
                 date=DATE + timedelta(hours=2), body="Looks good to me.\n")
    assert site.capture.process(in_mailbox(reply, "alice@acme-law.com")).outcome is Outcome.LOGGED  # no Bcc: F13
    log_matter_mail(site, "Court date", "<m3@acme-law.com>", date=DATE + timedelta(days=1))
    sign_in(client, site, "bob@acme-law.com")
    page = client.get(f"/records/{site.world.matter.id}").text
    text = text_of(page)
    assert text.index("Court date") < text.index("Settlement draft")  # newest thread first
    assert "Smith v. Jones" in text and "acme+10802@bcc.example.com" in text  # the record's dropbox address
    assert 'data-copy="record-address"' in page
    assert "↗ Sent" in text and "Alice Archer <alice@acme-law.com>" in text
    assert "↙ Received Carol Client <carol@clientco.com>" in text and "Looks good to me." in text
    assert "to carol@clientco.com contact" in text  # participants with their role and kind
    assert "09 Mar 2026, 14:30 UTC" in text  # Bob's time zone is UTC
    assert 'href="/attachments/' in page and "brief.pdf" in page


@sqlite_only
def test_html_mail_is_shown_as_text_and_the_original_only_in_a_sandbox(client: TestClient, site: Site) -> None:
    log_matter_mail(site, "Formatted", "<html@acme-law.com>", body="Dear Alice,\nThanks\n", html=HOSTILE)
    sign_in(client, site, "alice@acme-law.com")
    answer = client.get(f"/records/{site.world.matter.id}")
    page = answer.text
    assert "<script>alert" not in page and "onclick=\"steal" not in page  # never live markup on our page
    assert '<iframe sandbox="" srcdoc="' in page and "&lt;script&gt;alert" in page  # inert, escaped into srcdoc
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "img-src 'self' data:" in policy  # no inline script, no trackers
    assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"


@sqlite_only
def test_an_attachment_downloads_with_its_name_and_never_renders_inline(client: TestClient, site: Site) -> None:
    log_matter_mail(site, attachments=[PDF, ("Über <x>.html", "text/html", b"<script>alert(1)</script>")])
    sign_in(client, site, "bob@acme-law.com")
    page = client.get(f"/records/{site.world.matter.id}").text
    links = sorted(set(re.findall(r'href="(/attachments/\d+)"', page)))
    pdf, html = (client.get(link) for link in links)
    assert pdf.content == PDF[2] and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == "attachment; filename=\"brief.pdf\"; filename*=UTF-8''brief.pdf"
    assert html.headers["content-disposition"].startswith('attachment; filename="_ber <x>.html"')  # ASCII fallback
    assert "filename*=UTF-8''%C3%9Cber%20%3Cx%3E.html" in html.headers["content-disposition"]
    assert html.headers["content-security-policy"].startswith("sandbox")
    assert html.headers["x-content-type-options"] == "nosniff"


def test_alice_unlogs_a_mail_she_filed_by_mistake_and_the_audit_keeps_it(client: TestClient, site: Site) -> None:
    activity_id = log_matter_mail(site, "Wrong matter!", "<oops@acme-law.com>")
    csrf = sign_in(client, site, "alice@acme-law.com")
    record = f"/records/{site.world.matter.id}"
    assert f'href="/activities/{activity_id}/unlog?back={record}"' in client.get(record).text
    assert "Wrong matter!" in client.get(f"/activities/{activity_id}/unlog?back={record}").text  # confirm first
    done = client.post(f"/activities/{activity_id}/unlog", data={"csrf": csrf, "back": record})
    assert done.headers["location"] == record
    page = client.get(record).text
    assert flash_of(page) == ["“Wrong matter!” is no longer logged. The audit keeps a note of it."]
    assert "No e-mail is filed here yet" in page and 'id="thread-' not in page  # hidden from the tab
    with site.world.session() as session:
        activity = session.get(Activity, activity_id)
        assert activity is not None and activity.unlogged_at is not None  # kept, never deleted
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "unlogged")).one()
        assert entry.detail["by"] == "alice@acme-law.com" and entry.internet_message_id == "<oops@acme-law.com>"
    assert "Wrong matter!" in text_of(client.get("/audit?action=unlogged").text)
    # Gone is gone: a second unlog, or its attachment, is a 404.
    assert client.post(f"/activities/{activity_id}/unlog", data={"csrf": csrf}).status_code == 404


@sqlite_only
def test_only_the_owner_or_an_administrator_can_unlog(client: TestClient, site: Site) -> None:
    activity_id = log_matter_mail(site)
    csrf = sign_in(client, site, "bob@acme-law.com")
    assert "/unlog" not in client.get(f"/records/{site.world.matter.id}").text
    client.post(f"/activities/{activity_id}/unlog", data={"csrf": csrf, "back": "/records"})
    assert flash_of(client.get("/records").text) == [
        "Only the user who logged this e-mail or an administrator can unlog it"]
    csrf = sign_in(client, site, "ada@acme-law.com")
    client.post(f"/activities/{activity_id}/unlog", data={"csrf": csrf, "back": "/records"})
    assert "is no longer logged" in flash_of(client.get("/records").text)[0]


@sqlite_only
def test_bob_links_an_unassigned_mail_to_contacts(client: TestClient, site: Site) -> None:
    raw = mail("Bob Baker <bob@acme-law.com>", ["quinn@newclient.example", "rita@newclient.example"],
               bcc=["notes@bcc.example.com"], subject="Intro call", message_id="<intro@acme-law.com>")
    site.capture.process(to_dropbox(raw))
    csrf = sign_in(client, site, "bob@acme-law.com")
    page = client.get("/unassigned").text
    assert "Intro call" in page and 'value="quinn@newclient.example"' in page
    unassigned_id = int(page.split('action="/unassigned/')[1].split("/")[0])
    link = f"/unassigned/{unassigned_id}/link"
    client.post(link, data={"csrf": csrf})
    assert flash_of(client.get("/unassigned").text) == ["Name at least one contact to link to"]
    client.post(link, data={"csrf": csrf, "contacts": "quinn@newclient.example"})
    assert flash_of(client.get("/unassigned").text) == ["No contact or lead with address quinn@newclient.example"]
    client.post(link, data={"csrf": csrf, "other": "Carol@ClientCo.com, hank@globex.com"})
    page = client.get("/unassigned").text
    assert flash_of(page) == ["Linked to carol@clientco.com, hank@globex.com."]
    assert "Intro call" not in text_of(page)
    contact = client.get("/records?kind=contact&q=carol").text
    carol = int(contact.split('href="/records/')[1].split('"')[0])
    assert "Intro call" in client.get(f"/records/{carol}").text


def test_the_audit_says_why_a_mail_was_refused(client: TestClient, site: Site) -> None:
    site.capture.process(to_dropbox(mail("Eve <eve@spam.example>", ["alice@acme-law.com"], bcc=[
        "acme+10802@bcc.example.com"], subject="Cheap pills", message_id="<spam@spam.example>")))
    site.capture.process(to_dropbox(mail(
        "Alice Archer <alice@acme-law.com>", ["carol@clientco.com"], bcc=["acme+99999@bcc.example.com"],
        subject="Typo in the matter", message_id="<typo@acme-law.com>")))
    sign_in(client, site, "ada@acme-law.com")
    text = text_of(client.get("/audit").text)
    assert "the sender is not an authorized address of a user unauthorized_sender" in text and "Cheap pills" in text
    assert "no matter has this number unknown_matter" in text
    assert "Other's" not in text  # never another company's entries
    sign_in(client, site, "alice@acme-law.com")  # a user sees what concerns their own addresses
    text = text_of(client.get("/audit").text)
    assert "Typo in the matter" in text and "Cheap pills" not in text


def test_records_can_be_searched(client: TestClient, site: Site) -> None:
    sign_in(client, site, "bob@acme-law.com")
    text = text_of(client.get("/records?q=GLOBEX").text)
    assert "Globex" in text and "hank@globex.com" in text and "Smith v. Jones" not in text
    text = text_of(client.get("/records?kind=matter").text)
    assert "10802 Smith v. Jones" in text and "Globex" not in text and "777" not in text


def test_another_companys_ids_are_not_found_whatever_the_url(client: TestClient, site: Site) -> None:
    other = site.other
    csrf = sign_in(client, site, "ada@acme-law.com")  # an administrator, even
    for url in (f"/records/{other.record_id}", f"/attachments/{other.attachment_id}",
                f"/activities/{other.activity_id}/unlog", "/records/not-a-number"):
        answer = client.get(url)
        assert answer.status_code == 404 and "There is nothing here." in answer.text, url
        assert "Other" not in answer.text
    for url, data in ((f"/activities/{other.activity_id}/unlog", {}),
                      (f"/unassigned/{other.unassigned_id}/link", {"other": "olga@client.example"}),
                      (f"/mailboxes/{other.mailbox_id}/disconnect", {}),
                      (f"/admin/roles/{other.role_id}/permission", {"granted": "off"})):
        assert client.post(url, data={"csrf": csrf, **data}).status_code == 404, url
    with site.world.session() as session:
        activity = session.get(Activity, other.activity_id)
        assert activity is not None and activity.unlogged_at is None
    assert "Other's" not in client.get("/unassigned").text
