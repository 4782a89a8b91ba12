"""Gmail drafts are never logged: the emulator keeps drafts as the drafts guide describes (a DRAFT-labelled
message in its thread, replaced on update, a new SENT message on send), and the adapter never hands one to
the core — on history, thread backfill, resync or find."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from connector.config import Settings
from connector.ports import MailboxRef
from emulators.gmail import GmailEmulator
from providers.gmail.adapter import GmailProvider
from tests.inspect_db import logged

from .conftest import ANN, BOB, DROPBOX, connect, mailbox_ref, send
from .office import CAROL, MATTER, Office, encoded, rfc822

DRAFT_TEXT = "DRAFT - do not file"


def save_reply_draft(service: Any, sender: str, to: str, original: tuple[str, str], subject: str,
                     thread_id: str, bcc: str = "") -> dict[str, Any]:
    """What Gmail's composer saves while the user types a reply: a draft in the thread (with the Bcc)."""
    headers = {"In_Reply_To": original[1], "References": original[1], **({"Bcc": bcc} if bcc else {})}
    msg = rfc822(sender, to, subject, DRAFT_TEXT, **headers)
    return service.users().drafts().create(userId="me", body={"message": {
        "raw": encoded(msg), "threadId": thread_id}}).execute()


# --- the emulator ---------------------------------------------------------------------------------
def test_a_draft_lives_in_its_thread_is_replaced_on_update_and_sent_as_a_new_message(
        service_for, emulator: GmailEmulator) -> None:
    ann, bob = service_for(ANN), service_for(BOB)
    original = send(bob, BOB, ANN, "Offer")
    start = ann.users().getProfile(userId="me").execute()["historyId"]
    [copy] = ann.users().messages().list(userId="me").execute()["messages"]
    draft = save_reply_draft(ann, ANN, BOB, original, "Re: Offer", copy["threadId"], bcc=DROPBOX)
    assert draft["message"]["labelIds"] == ["DRAFT"] and draft["message"]["threadId"] == copy["threadId"]
    thread = ann.users().threads().get(userId="me", id=copy["threadId"], format="minimal").execute()
    assert [m["labelIds"] for m in thread["messages"]] == [["INBOX", "UNREAD"], ["DRAFT"]]

    final = rfc822(ANN, BOB, "Re: Offer", "final words", In_Reply_To=original[1], References=original[1])
    updated = ann.users().drafts().update(userId="me", id=draft["id"], body={"message": {
        "raw": encoded(final), "threadId": copy["threadId"]}}).execute()
    assert updated["id"] == draft["id"] and updated["message"]["id"] != draft["message"]["id"]  # replaced
    sent = ann.users().drafts().send(userId="me", body={"id": draft["id"]}).execute()
    assert sent["labelIds"] == ["SENT"] and sent["threadId"] == copy["threadId"]
    assert sent["id"] not in (draft["message"]["id"], updated["message"]["id"])
    with pytest.raises(HttpError) as gone:
        ann.users().drafts().get(userId="me", id=draft["id"]).execute()
    assert gone.value.status_code == 404
    history = ann.users().history().list(userId="me", startHistoryId=start).execute()["history"]
    kinds = [(k, e["message"]["id"], e["message"].get("labelIds")) for r in history for k in
             ("messagesAdded", "messagesDeleted") for e in r.get(k, [])]
    assert kinds == [("messagesAdded", draft["message"]["id"], ["DRAFT"]),
                     ("messagesAdded", updated["message"]["id"], ["DRAFT"]),
                     ("messagesDeleted", draft["message"]["id"], None),
                     ("messagesAdded", sent["id"], ["SENT"]),
                     ("messagesDeleted", updated["message"]["id"], None)]
    [delivered] = bob.users().messages().list(userId="me", labelIds=["INBOX"]).execute()["messages"]
    raw = bob.users().messages().get(userId="me", id=delivered["id"], format="raw").execute()
    assert "final words" in base64.urlsafe_b64decode(raw["raw"]).decode()


def test_drafts_need_a_compose_scope_and_list_and_delete(service_for) -> None:
    ann = service_for(ANN)
    msg = rfc822(ANN, BOB, "Later", "not yet")
    created = ann.users().drafts().create(userId="me", body={"message": {"raw": encoded(msg)}}).execute()
    assert [d["id"] for d in ann.users().drafts().list(userId="me").execute()["drafts"]] == [created["id"]]
    reader = service_for(ANN, ("https://www.googleapis.com/auth/gmail.readonly",))
    with pytest.raises(HttpError) as refused:
        reader.users().drafts().create(userId="me", body={"message": {"raw": encoded(msg)}}).execute()
    assert refused.value.status_code == 403
    ann.users().drafts().delete(userId="me", id=created["id"]).execute()
    assert "drafts" not in ann.users().drafts().list(userId="me").execute()


# --- the adapter ------------------------------------------------------------------------------------
def test_the_adapter_never_hands_a_draft_to_the_core(connector_settings: Settings, service_for) -> None:
    provider = GmailProvider(connector_settings.gmail)
    ann: MailboxRef = mailbox_ref(connect(connector_settings, ANN))
    cursor = provider.start_cursor(ann)
    original = send(service_for(BOB), BOB, ANN, "Offer")
    page = provider.read_changes(ann, cursor)
    [received] = page.envelopes
    thread_id = received.thread_key.rsplit(":", 1)[-1]
    draft = save_reply_draft(service_for(ANN), ANN, BOB, original, "Re: Offer", thread_id, bcc=DROPBOX)
    later = provider.read_changes(ann, page.cursor)
    assert later.envelopes == []  # history named the draft (messageAdded, DRAFT): left out
    assert provider.thread(ann, received) == []
    recent = provider.recent(ann, since=datetime.now(UTC) - timedelta(hours=1))
    assert [e.provider_message_id for e in recent.envelopes] == [received.provider_message_id]
    raw = service_for(ANN).users().drafts().get(userId="me", id=draft["id"], format="raw").execute()
    draft_id = next(line.split(":", 1)[1].strip() for line in base64.urlsafe_b64decode(
        raw["message"]["raw"]).decode().splitlines() if line.lower().startswith("message-id:"))
    assert provider.find(ann, draft_id) is None


# --- the story ----------------------------------------------------------------------------------------
def test_an_unsent_reply_draft_is_never_filed_while_the_sent_reply_and_the_thread_are(office: Office) -> None:
    carol = office.external_sends(CAROL, "Smith v. Jones: offer")
    office.sync()
    assert logged(office.engine, carol) is None  # received in a thread nobody logged
    thread_id = office.copy_of(carol)["threadId"]
    draft = save_reply_draft(office.alice_gmail, "alice@acme-law.com", CAROL, ("", carol),
                             "Re: Smith v. Jones: offer", thread_id, bcc=MATTER)
    office.sync()
    _, reply = office.alice_sends(CAROL, "Re: Smith v. Jones: offer", "We accept.", thread_id=thread_id,
                                  Bcc=MATTER, In_Reply_To=carol, References=carol)
    office.sync()
    office.sync()  # the thread backfill the logged reply asked for
    filed = logged(office.engine, reply)
    assert filed is not None and filed.filed_under == {"matter:10802"} and filed.activity.direction == "sent"
    earlier = logged(office.engine, carol)
    assert earlier is not None and "matter:10802" in earlier.filed_under
    draft_copy = office.emulator.mailbox("alice@acme-law.com").messages[draft["message"]["id"]]
    assert draft_copy.label_ids == ["DRAFT"] and not draft_copy.deleted  # still there, in the thread
    assert office.audited(draft_copy.rfc822_id) == []
    assert not any(DRAFT_TEXT in text for text in office.texts()) and len(office.texts()) == 2
