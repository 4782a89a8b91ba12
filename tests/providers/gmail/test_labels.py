"""Gmail mail that never sees the inbox is still mail: filters archive replies or file them under labels on
arrival, and mail rescued from Spam comes back as label changes. The emulator does both by default (through
users.settings.filters and messages.modify), and the adapter reads such mail in logged threads."""

from __future__ import annotations

from typing import Any

import pytest
from googleapiclient.errors import HttpError

from connector.config import Settings
from emulators.gmail import GmailEmulator
from providers.gmail.adapter import GmailProvider
from tests.inspect_db import logged

from .conftest import ANN, BOB, MAIL_SCOPE, connect, mailbox_ref, send
from .office import CAROL, MATTER, SETTINGS_SCOPE, Office

GET = "gmail.users.messages.get"


def archive_mail_from(service: Any, sender: str, label_name: str) -> str:
    """"Skip the Inbox (Archive it)" and "Apply the label" for mail from ``sender``; returns the label id."""
    label = service.users().labels().create(userId="me", body={"name": label_name}).execute()
    service.users().settings().filters().create(userId="me", body={
        "criteria": {"from": sender}, "action": {"removeLabelIds": ["INBOX"], "addLabelIds": [label["id"]]}}).execute()
    return str(label["id"])


def not_spam(service: Any, gmail_id: str) -> None:
    """Gmail's "Not spam": back to the inbox, a label change on the message already there."""
    service.users().messages().modify(userId="me", id=gmail_id, body={
        "addLabelIds": ["INBOX"], "removeLabelIds": ["SPAM"]}).execute()


# --- the emulator ---------------------------------------------------------------------------------
def test_a_filter_archives_and_labels_mail_on_arrival(service_for, emulator: GmailEmulator) -> None:
    ann = service_for(ANN, (MAIL_SCOPE, SETTINGS_SCOPE))
    with pytest.raises(HttpError) as refused:  # filters.create asks for gmail.settings.basic
        service_for(ANN).users().settings().filters().create(userId="me", body={
            "criteria": {"from": BOB}, "action": {"removeLabelIds": ["INBOX"]}}).execute()
    assert refused.value.status_code == 403
    label = archive_mail_from(ann, BOB, "Clients")
    start = ann.users().getProfile(userId="me").execute()["historyId"]
    send(service_for(BOB), BOB, ANN, "Filed away")
    [copy] = ann.users().messages().list(userId="me").execute()["messages"]
    stored = ann.users().messages().get(userId="me", id=copy["id"], format="minimal").execute()
    assert set(stored["labelIds"]) == {"UNREAD", label}  # neither INBOX nor SENT
    added = ann.users().history().list(userId="me", startHistoryId=start).execute()["history"]
    assert [set(r["messagesAdded"][0]["message"]["labelIds"]) for r in added] == [{"UNREAD", label}]
    [listed] = ann.users().settings().filters().list(userId="me").execute()["filter"]
    assert listed["criteria"] == {"from": BOB} and listed["action"]["removeLabelIds"] == ["INBOX"]


def test_spam_arrives_labelled_spam_and_not_spam_is_a_label_change(service_for, emulator: GmailEmulator) -> None:
    ann = service_for(ANN)
    emulator.classify_as_spam(BOB)
    start = ann.users().getProfile(userId="me").execute()["historyId"]
    send(service_for(BOB), BOB, ANN, "Totally legitimate")
    assert "messages" not in ann.users().messages().list(userId="me").execute()  # spam is listed only on request
    [copy] = ann.users().messages().list(userId="me", includeSpamTrash=True).execute()["messages"]
    not_spam(ann, copy["id"])
    history = ann.users().history().list(userId="me", startHistoryId=start).execute()["history"]
    kinds = [k for r in history for k in ("messagesAdded", "labelsAdded", "labelsRemoved") if k in r]
    assert kinds == ["messagesAdded", "labelsAdded", "labelsRemoved"]  # one message added, ever
    assert history[0]["messagesAdded"][0]["message"]["labelIds"] == ["SPAM", "UNREAD"]
    assert history[2]["labelsRemoved"][0]["labelIds"] == ["SPAM"]
    assert set(history[2]["labelsRemoved"][0]["message"]["labelIds"]) == {"INBOX", "UNREAD"}


# --- the adapter ------------------------------------------------------------------------------------
def test_the_adapter_reads_archived_mail_and_mail_rescued_from_spam(connector_settings: Settings, service_for,
                                                                    emulator: GmailEmulator) -> None:
    provider = GmailProvider(connector_settings.gmail)
    ann = mailbox_ref(connect(connector_settings, ANN))
    cursor = provider.start_cursor(ann)
    archive_mail_from(service_for(ANN, (MAIL_SCOPE, SETTINGS_SCOPE)), BOB, "Clients")
    filed_away = send(service_for(BOB), BOB, ANN, "Filed away")
    emulator.classify_as_spam("@spam.example")
    emulator.add_user("x@spam.example")
    send(service_for("x@spam.example"), "x@spam.example", ANN, "Junk")
    page = provider.read_changes(ann, cursor)
    [archived] = page.envelopes  # the spam is not mail (yet)
    assert archived.ids_only and archived.direction.value == "received"
    assert [e.internet_message_id for e in provider.headers(ann, [archived])] == [filed_away[1]]
    [junk] = [m for m in emulator.mailbox(ANN).live() if "SPAM" in m.label_ids]
    not_spam(service_for(ANN), junk.id)
    rescued = provider.read_changes(ann, page.cursor)
    assert [e.provider_message_id for e in rescued.envelopes] == [junk.id]
    assert provider.read_changes(ann, rescued.cursor).envelopes == []


# --- the stories ----------------------------------------------------------------------------------------
def _logged_thread(office: Office, subject: str) -> str:
    _, first = office.alice_sends(CAROL, subject, Bcc=MATTER)
    office.sync()
    assert logged(office.engine, first) is not None
    return first


def test_a_reply_a_filter_archived_is_filed_in_its_logged_thread(office: Office) -> None:
    first = _logged_thread(office, "Smith v. Jones: settlement")
    archive_mail_from(office.alice_settings, CAROL, "Clients")
    reply = office.external_sends(CAROL, "Re: Smith v. Jones: settlement", In_Reply_To=first, References=first)
    assert "INBOX" not in office.copy_of(reply)["labelIds"]
    office.sync()  # the watch pushed it although it skipped the inbox
    found = logged(office.engine, reply)
    assert found is not None and "matter:10802" in found.filed_under and found.activity.direction == "received"


def test_a_reply_rescued_from_spam_is_filed_in_its_logged_thread(office: Office) -> None:
    first = _logged_thread(office, "Engagement letter")
    office.emulator.classify_as_spam(CAROL)
    reply = office.external_sends(CAROL, "Re: Engagement letter", In_Reply_To=first, References=first)
    office.sync()
    assert logged(office.engine, reply) is None  # in Spam: not mail, and not downloaded
    copy = office.copy_of(reply)
    assert copy["labelIds"] == ["SPAM", "UNREAD"]
    assert not any(c.method == GET and c.path.endswith(copy["id"]) and "format=raw" in c.path
                   for c in office.emulator.request_log("alice@acme-law.com"))
    not_spam(office.alice_gmail, copy["id"])
    office.sync()
    found = logged(office.engine, reply)
    assert found is not None and "matter:10802" in found.filed_under
