"""The Gmail emulator's users.settings.sendAs and the From that messages.send keeps, as the reference documents
them, driven through the real googleapiclient: a user's token may list and get; create and delete need
gmail.settings.sharing on a service account with domain-wide delegation; an address at the account's own
Workspace domain is accepted at once, any other is pending its owner's verification; a From naming an accepted
alias is kept, any other is rewritten to the account, whose mailbox has the SENT copy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from google.oauth2 import service_account
from googleapiclient.errors import HttpError

from connector.db import transaction
from connector.models import Activity
from connector.services import users
from emulators.gmail import GmailEmulator, GmailUrls
from tests.inspect_db import count, logged

from .conftest import ANN, BOB, MAIL_SCOPE, READONLY, gmail, send
from .office import ALICE, CAROL, MATTER, Office, encoded, rfc822

SHARING = "https://www.googleapis.com/auth/gmail.settings.sharing"
BASIC = "https://www.googleapis.com/auth/gmail.settings.basic"
SA_EMAIL, SA_CLIENT_ID = "aliases@firm-admin.iam.gserviceaccount.com", "118220000000000000042"
INFO = "info@firm.example"  # an address of Ann's organisation
OUTSIDE = "ann.archer@outside.example"  # an address elsewhere, which she says is hers
FRONT_DESK = "info@acme-law.com"  # Alice's firm's shared address


def _error(err: HttpError) -> dict[str, Any]:
    return json.loads(err.content)["error"]


@pytest.fixture
def admin(emulator: GmailEmulator, urls: GmailUrls) -> Any:
    """Ann's Gmail as the firm's service account sees it: domain-wide delegation of gmail.settings.sharing."""
    info = emulator.new_service_account(SA_EMAIL, SA_CLIENT_ID)
    emulator.authorize_domain_wide_delegation("firm.example", SA_CLIENT_ID, [SHARING, BASIC])
    base = service_account.Credentials.from_service_account_info(info, scopes=[SHARING, BASIC])
    return gmail(urls, base.with_subject(ANN))


def _sent_as(service: Any, emulator: GmailEmulator, user: str, sender: str, to: str) -> str:
    """The From of the SENT copy in ``user``'s mailbox of a message she wrote as ``sender``."""
    gmail_id, _ = send(service, sender, to, f"from {sender}")
    return str(emulator.mailbox(user).messages[gmail_id].parsed["From"])


def test_the_primary_address_is_listed_and_a_users_token_cannot_create_or_delete(
        service_for: Callable[..., Any]) -> None:
    ann = service_for(ANN, (READONLY,))
    [primary] = ann.users().settings().sendAs().list(userId="me").execute()["sendAs"]
    assert primary["sendAsEmail"] == ANN and primary["isPrimary"] and primary["isDefault"]
    assert "verificationStatus" not in primary  # custom addresses only
    assert ann.users().settings().sendAs().get(userId="me", sendAsEmail=ANN).execute() == primary

    with pytest.raises(HttpError) as scope:
        ann.users().settings().sendAs().create(userId="me", body={"sendAsEmail": INFO}).execute()
    assert scope.value.status_code == 403 and _error(scope.value)["errors"][0]["reason"] == "insufficientPermissions"
    own = service_for(ANN, (SHARING,))  # the scope, but her own token: Workspace-admin territory
    for call in (own.users().settings().sendAs().create(userId="me", body={"sendAsEmail": INFO}),
                 own.users().settings().sendAs().delete(userId="me", sendAsEmail=ANN)):
        with pytest.raises(HttpError) as refused:
            call.execute()
        assert refused.value.status_code == 403 and _error(refused.value)["message"] == (
            "Access restricted to service accounts that have been delegated domain-wide authority")


def test_a_domain_address_is_accepted_at_once_and_an_outside_one_is_pending(admin: Any) -> None:
    aliases = admin.users().settings().sendAs()
    info = aliases.create(userId="me", body={"sendAsEmail": INFO, "displayName": "Firm Info",
                                            "treatAsAlias": True}).execute()
    assert info == {"sendAsEmail": INFO, "displayName": "Firm Info", "replyToAddress": "", "signature": "",
                    "isDefault": False, "treatAsAlias": True, "verificationStatus": "accepted"}
    outside = aliases.create(userId="me", body={"sendAsEmail": OUTSIDE}).execute()
    assert outside["verificationStatus"] == "pending"
    assert [a["sendAsEmail"] for a in aliases.list(userId="me").execute()["sendAs"]] == [ANN, INFO, OUTSIDE]
    assert aliases.get(userId="me", sendAsEmail=INFO).execute() == info

    with pytest.raises(HttpError) as again:
        aliases.create(userId="me", body={"sendAsEmail": INFO}).execute()
    assert again.value.status_code == 409
    aliases.delete(userId="me", sendAsEmail=OUTSIDE).execute()
    for call in (aliases.get(userId="me", sendAsEmail=OUTSIDE), aliases.delete(userId="me", sendAsEmail=OUTSIDE)):
        with pytest.raises(HttpError) as gone:
            call.execute()
        assert gone.value.status_code == 404
    with pytest.raises(HttpError) as primary:  # "it cannot be deleted from the collection of send-as aliases"
        aliases.delete(userId="me", sendAsEmail=ANN).execute()
    assert primary.value.status_code == 400


def test_messages_send_keeps_a_from_naming_an_accepted_alias_and_rewrites_any_other(
        emulator: GmailEmulator, admin: Any, service_for: Callable[..., Any]) -> None:
    admin.users().settings().sendAs().create(userId="me", body={"sendAsEmail": INFO,
                                                                "displayName": "Firm Info"}).execute()
    admin.users().settings().sendAs().create(userId="me", body={"sendAsEmail": OUTSIDE}).execute()
    ann = service_for(ANN, (MAIL_SCOPE,))
    assert _sent_as(ann, emulator, ANN, f"Firm Info <{INFO}>", BOB) == f"Firm Info <{INFO}>"
    [received] = [m for m in emulator.mailbox(BOB).messages.values() if m.subject == f"from Firm Info <{INFO}>"]
    assert str(received.parsed["From"]) == f"Firm Info <{INFO}>" and received.parsed["Sender"] is None
    assert _sent_as(ann, emulator, ANN, OUTSIDE, BOB) == f"Ann Archer <{ANN}>"  # pending: not hers yet
    assert _sent_as(ann, emulator, ANN, "boss@firm.example", BOB) == f"Ann Archer <{ANN}>"  # no alias at all

    emulator.verify_send_as(ANN, OUTSIDE)  # she clicks the link Gmail mailed to that address
    assert _sent_as(ann, emulator, ANN, OUTSIDE, BOB) == OUTSIDE


def test_a_consumer_account_must_verify_every_address_and_an_admin_alias_receives_mail(
        emulator: GmailEmulator, service_for: Callable[..., Any]) -> None:
    assert emulator.add_send_as(BOB, "bob.baker@gmail.com")["verificationStatus"] == "pending"
    bob = service_for(BOB, (MAIL_SCOPE,))
    assert _sent_as(bob, emulator, BOB, "bob.baker@gmail.com", ANN) == f"Bob Baker <{BOB}>"

    emulator.add_alias(ANN, INFO)  # the Workspace admin's alternate address: its mail reaches Ann's inbox
    send(bob, BOB, INFO, "to the front desk")
    send(bob, BOB, f"{ANN}, {INFO}", "to Ann twice over")
    for subject in ("to the front desk", "to Ann twice over"):  # one copy each
        [arrived] = [m for m in emulator.mailbox(ANN).messages.values() if m.subject == subject]
        assert "INBOX" in arrived.label_ids


def test_alices_mail_from_the_firms_address_is_filed_once_as_hers_and_carols_reply_as_carols(
        office: Office) -> None:
    """Alice has info@acme-law.com, the firm's front-desk address (an alias the admin gave her, accepted as a
    send-as address without verification), and writes from it to Carol with the matter in Bcc: her SENT copy
    keeps that From and is filed once, under the matter, as hers. Carol answers the address she saw; the answer
    reaches Alice's inbox and is filed as Carol's mail received, not as something Alice sent."""
    office.emulator.add_alias(ALICE, FRONT_DESK)
    assert office.emulator.add_send_as(ALICE, FRONT_DESK, "Acme Law Info")["verificationStatus"] == "accepted"
    opening = rfc822(f"Acme Law Info <{FRONT_DESK}>", CAROL, "Smith v. Jones: from the front desk",
                     "Please see below.", Bcc=MATTER)
    sent = office.alice_gmail.users().messages().send(userId="me", body={"raw": encoded(opening)}).execute()
    copy = office.emulator.mailbox(ALICE).messages[sent["id"]]
    assert "SENT" in sent["labelIds"] and str(copy.parsed["From"]) == f"Acme Law Info <{FRONT_DESK}>"
    office.sync()
    first = str(opening["Message-ID"])
    filed = logged(office.engine, first)
    assert filed is not None and filed.filed_under == {"matter:10802"} and filed.sources == {("gmail", ALICE)}
    assert count(office.engine, Activity) == 1  # filed once
    with transaction(office.engine) as session:
        alice = users.get_user(session, ALICE).id
    assert filed.activity.owner_user_id == alice and filed.activity.direction == "sent"

    reply = office.post_office.send(CAROL, rfc822(CAROL, FRONT_DESK, "Re: Smith v. Jones: from the front desk",
                                                  "Thanks, agreed.", In_Reply_To=first, References=first)
                                    .as_bytes())
    assert office.copy_of(reply)["threadId"] == copy.thread_id  # in Alice's inbox, in the same thread
    office.sync()
    answered = logged(office.engine, reply)
    assert answered is not None and answered.filed_under == {"matter:10802"} and office.audited(reply) == [
        "logged:thread"]
    assert answered.activity.direction == "received" and answered.activity.from_email == CAROL
    assert {(email, role) for email, role, _ in answered.participants} == {(CAROL, "from"), (FRONT_DESK, "to")}
    assert answered.activity.thread_id == filed.activity.thread_id and count(office.engine, Activity) == 2
