"""The Communications tab as a reader meets it: a contact's timeline, who is a contact, the order of a thread,
pages of threads and searching them."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from connector.routing.decision import Outcome
from connector.services import api_tokens, records
from tests.connector.web.conftest import ALICE, MATTER, Site, log_matter_mail, sign_in, sqlite_only, text_of
from tests.mailbuilder import DATE, in_mailbox, mail, to_dropbox

CAROL = "Carol Client <carol@clientco.com>"


def _carol_id(site: Site) -> int:
    with site.world.session() as session:
        carol = records.person(session, site.world.tenant, "carol@clientco.com")
        assert carol.id is not None
        return carol.id


def test_a_contacts_page_lists_the_mail_she_took_part_in_and_counts_it(client: TestClient, site: Site) -> None:
    log_matter_mail(site, "Settlement draft", "<m1@acme-law.com>", date=DATE)  # to Carol, filed under the matter
    reply = mail(CAROL, [ALICE], subject="Re: Settlement draft", message_id="<m2@clientco.com>",
                 in_reply_to="<m1@acme-law.com>", references=["<m1@acme-law.com>"], date=DATE + timedelta(hours=1))
    assert site.capture.process(in_mailbox(reply, "alice@acme-law.com")).outcome is Outcome.LOGGED
    copied = mail(ALICE, ["Hank Scorpio <hank@globex.com>"], cc=[CAROL], bcc=[MATTER], subject="Introductions",
                  message_id="<m3@acme-law.com>", date=DATE + timedelta(hours=2))
    site.capture.process(to_dropbox(copied))
    bcc_only = mail(ALICE, ["Hank Scorpio <hank@globex.com>"], bcc=[MATTER, CAROL], subject="Not for Carol's eyes",
                    message_id="<m4@acme-law.com>", date=DATE + timedelta(hours=3))
    site.capture.process(to_dropbox(bcc_only))
    sign_in(client, site, "bob@acme-law.com")
    text = text_of(client.get(f"/records/{_carol_id(site)}").text)
    assert "Settlement draft" in text and "Re: Settlement draft" in text and "Introductions" in text
    assert "Not for Carol's eyes" not in text  # a blind copy is not taking part
    assert "Communications 3" in text  # the tab's count is the messages listed


@sqlite_only
def test_a_person_the_mail_is_filed_under_is_shown_as_a_contact(client: TestClient, site: Site) -> None:
    # Contacts of two customers: routing calls both external for the customer rule, yet files under both.
    raw = mail(ALICE, ["Hank Scorpio <hank@globex.com>", "Peter Gibbons <peter@initech.com>"],
               bcc=["notes@bcc.example.com"], subject="Joint venture", message_id="<jv@acme-law.com>")
    assert site.capture.process(to_dropbox(raw)).outcome is Outcome.LOGGED
    sign_in(client, site, "alice@acme-law.com")
    with site.world.session() as session:
        hank = records.person(session, site.world.tenant, "hank@globex.com")
    text = text_of(client.get(f"/records/{hank.id}").text)
    assert "to hank@globex.com contact" in text and "to peter@initech.com contact" in text
    assert "external" not in text


@sqlite_only
def test_a_forward_sent_in_the_same_second_comes_after_the_reply_it_forwards(client: TestClient, site: Site) -> None:
    log_matter_mail(site, "Settlement draft", "<m1@acme-law.com>", date=DATE)
    moment = DATE + timedelta(hours=1)
    reply = mail(CAROL, [ALICE], subject="Re: Settlement draft", message_id="<m2@clientco.com>",
                 in_reply_to="<m1@acme-law.com>", references=["<m1@acme-law.com>"], date=moment, body="Agreed.\n")
    forward = mail(ALICE, ["Bob Baker <bob@acme-law.com>"], cc=[CAROL], subject="Fwd: Re: Settlement draft",
                   message_id="<m3@acme-law.com>", in_reply_to="<m2@clientco.com>",
                   references=["<m1@acme-law.com>", "<m2@clientco.com>"], date=moment, body="FYI\n")
    # The forward is read first (Sent Items before the inbox), so it is logged before the reply.
    assert site.capture.process(in_mailbox(forward, "alice@acme-law.com")).outcome is Outcome.LOGGED
    assert site.capture.process(in_mailbox(reply, "alice@acme-law.com")).outcome is Outcome.LOGGED
    sign_in(client, site, "alice@acme-law.com")
    text = text_of(client.get(f"/records/{site.world.matter.id}").text)
    assert text.index("Agreed.") < text.index("FYI")


def _many_threads(site: Site, count: int) -> None:
    envelopes = [to_dropbox(mail(ALICE, [CAROL], bcc=[MATTER], subject=f"Thread {n:03d}",
                                 message_id=f"<t{n}@acme-law.com>", date=DATE + timedelta(minutes=n),
                                 body=f"Body of thread {n}.\n")) for n in range(count)]
    assert all(applied.outcome is Outcome.LOGGED for _, applied in site.capture.process_all(envelopes))


def test_threads_come_fifty_to_a_page_newest_first(client: TestClient, site: Site) -> None:
    _many_threads(site, 52)
    sign_in(client, site, "bob@acme-law.com")
    matter = f"/records/{site.world.matter.id}"
    first = client.get(matter).text
    shown = re.findall(r"Thread (\d{3})", text_of(first))
    assert shown[0] == "051" and "Thread 002" in text_of(first) and "Thread 001" not in text_of(first)
    assert "Communications 52" in text_of(first) and "Page 1 of 2" in text_of(first)
    following = re.search(r'rel="next" href="([^"]+)"', first)
    assert following is not None
    second = text_of(client.get(following.group(1).replace("&amp;", "&")).text)
    assert "Thread 001" in second and "Thread 000" in second and "Thread 051" not in second
    assert "Page 2 of 2" in second and "Newer threads" in second
    assert "Page 2 of 2" in text_of(client.get(f"{matter}?page=99").text)  # past the end: the last page


def test_the_tab_searches_subject_people_and_text(client: TestClient, site: Site) -> None:
    _many_threads(site, 3)
    log_matter_mail(site, "Costs of 100% refund", "<pct@acme-law.com>", body="The retainer is discussed.\n")
    hank = mail(ALICE, ["Hank Scorpio <hank@globex.com>"], bcc=[MATTER], subject="Board meeting",
                message_id="<hank@acme-law.com>")
    site.capture.process(to_dropbox(hank))
    sign_in(client, site, "alice@acme-law.com")
    matter = f"/records/{site.world.matter.id}"

    def found(q: str) -> list[str]:
        page = text_of(client.get(matter, params={"q": q}).text)
        return sorted(set(re.findall(r"(Thread \d{3}|Costs of 100% refund|Board meeting)", page)))

    assert found("thread 001") == ["Thread 001"]  # subject, any case
    assert found("RETAINER") == ["Costs of 100% refund"] and found("retain") == ["Costs of 100% refund"]  # text
    assert found("scorpio") == ["Board meeting"]  # a participant's name
    assert found("hank@globex.com") == ["Board meeting"] and found("globex") == ["Board meeting"]  # an address
    assert found("board scorpio") == ["Board meeting"]  # every word, in the mail or among its people
    assert found("100%") == ["Costs of 100% refund"]  # punctuation separates words
    assert found("%") == [] and found("_") == []  # and is not a wildcard
    nothing = text_of(client.get(matter, params={"q": "nothing like it"}).text)
    assert "No e-mail here matches “nothing like it”" in nothing


def test_search_results_page_by_keyset_and_back(client: TestClient, site: Site) -> None:
    _many_threads(site, 53)
    sign_in(client, site, "bob@acme-law.com")
    first = client.get(f"/records/{site.world.matter.id}", params={"q": "body thread"}).text
    assert "Communications 53" in text_of(first) and "Page 1 of 2" in text_of(first)
    older = re.search(r'rel="next" href="([^"]+)"', first)
    assert older is not None and "after=" in older.group(1)
    second = client.get(older.group(1).replace("&amp;", "&")).text
    assert list(dict.fromkeys(re.findall(r"Thread (\d{3})", text_of(second)))) == ["002", "001", "000"]
    newer = re.search(r'rel="prev" href="([^"]+)"', second)
    assert newer is not None and "before=" in newer.group(1) and 'rel="next"' not in second
    back = text_of(client.get(newer.group(1).replace("&amp;", "&")).text)
    assert re.findall(r"Thread (\d{3})", back)[0] == "052" and "Thread 002" not in back and "Page 1 of 2" in back


def test_a_contacts_tab_never_shows_another_companys_mail_to_the_same_address(client: TestClient, site: Site) -> None:
    log_matter_mail(site, "Settlement draft", "<m1@acme-law.com>")  # Acme's mail to Carol
    theirs = mail("Oscar Other <oscar@other.example>", [CAROL], bcc=["other+777@bcc.example.com"],
                  subject="Other Co's letter to Carol", message_id="<carol@other.example>")
    assert site.capture.process(to_dropbox(theirs)).outcome is Outcome.LOGGED  # the other company's, to her too
    sign_in(client, site, "alice@acme-law.com")
    console = text_of(client.get(f"/records/{_carol_id(site)}").text)
    assert "Settlement draft" in console and "Other Co" not in console and "Communications 1" in console
    with site.world.session() as session:
        secret = api_tokens.create_token(session, site.world.tenant, "Host sync")[1]
        session.commit()
    api = client.get(f"/api/v1/records/{_carol_id(site)}/communications", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 200 and "Settlement draft" in api.text and "Other Co" not in api.text


def test_a_program_searches_a_record_as_the_tab_does_and_pages_the_results(client: TestClient, site: Site) -> None:
    _many_threads(site, 5)
    log_matter_mail(site, "Costs", "<costs@acme-law.com>", body="The retainer is discussed.\n")
    with site.world.session() as session:
        secret = api_tokens.create_token(session, site.world.tenant, "Host sync")[1]
        session.commit()
    token = {"Authorization": f"Bearer {secret}"}
    url = f"/api/v1/records/{site.world.matter.id}/communications"
    assert [t["subject"] for t in client.get(url, params={"q": "retain"}, headers=token).json()] == ["Costs"]
    first = client.get(url, params={"q": "body thread", "limit": 3}, headers=token)
    assert [t["subject"] for t in first.json()] == ["Thread 004", "Thread 003", "Thread 002"]
    following = first.links["next"]["url"]
    assert "q=body+thread" in following
    assert [t["subject"] for t in client.get(following, headers=token).json()] == ["Thread 001", "Thread 000"]


def test_threads_sent_in_the_same_second_page_without_a_repeat_or_a_gap(client: TestClient, site: Site) -> None:
    moment = DATE + timedelta(seconds=1, microseconds=999_999)
    envelopes = [to_dropbox(mail(ALICE, [CAROL], bcc=[MATTER], subject=f"Thread {n:03d}", date=moment,
                                 message_id=f"<same{n}@acme-law.com>")) for n in range(55)]
    assert all(applied.outcome is Outcome.LOGGED for _, applied in site.capture.process_all(envelopes))
    sign_in(client, site, "bob@acme-law.com")
    first = client.get(f"/records/{site.world.matter.id}").text
    older = re.search(r'rel="next" href="([^"]+)"', first)
    assert older is not None
    second = client.get(older.group(1).replace("&amp;", "&")).text
    seen = [set(re.findall(r"Thread (\d{3})", text_of(page))) for page in (first, second)]
    assert len(seen[0]) == 50 and len(seen[1]) == 5 and not seen[0] & seen[1]
