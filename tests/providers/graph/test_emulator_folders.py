"""The Graph emulator's folders, Inbox rules, moves and Send As, as the v1.0 reference documents them,
driven over HTTP with a delegated token (httpx) and through msgraph-sdk."""

from __future__ import annotations

import httpx

from tests.mailbuilder import mail
from tests.providers.graph.conftest import Seeded, sign_in

RULES = ["Mail.ReadWrite", "Mail.Send", "MailboxSettings.ReadWrite"]


def _client(seeded: Seeded, scopes: list[str] | None = None, immutable: bool = False) -> httpx.Client:
    token = sign_in(seeded, seeded.alice, scopes or RULES)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    if immutable:
        headers["Prefer"] = 'IdType="ImmutableId"'
    return httpx.Client(base_url=seeded.urls.graph_url, headers=headers, trust_env=False)


def test_folders_are_created_listed_a_page_at_a_time_and_a_name_is_unique_under_its_parent(seeded: Seeded) -> None:
    with _client(seeded) as client:
        clients = client.post("/me/mailFolders", json={"displayName": "Clients"})
        assert clients.status_code == 201
        folder = clients.json()
        assert {"id", "displayName", "parentFolderId", "childFolderCount", "unreadItemCount", "totalItemCount",
                "isHidden"} <= set(folder) and "wellKnownName" not in folder  # v1.0 has none
        acme = client.post(f"/me/mailFolders/{folder['id']}/childFolders", json={"displayName": "Acme"})
        assert acme.status_code == 201 and acme.json()["parentFolderId"] == folder["id"]
        again = client.post("/me/mailFolders", json={"displayName": "clients"})
        assert again.status_code == 400 and again.json()["error"]["code"] == "ErrorFolderExists"
        first = client.get("/me/mailFolders").json()  # 8 well-known + Clients: 10 a page by default
        assert len(first["value"]) == 9 and "@odata.nextLink" not in first
        assert client.get(f"/me/mailFolders/{folder['id']}").json()["childFolderCount"] == 1
        paged = client.get("/me/mailFolders", params={"$top": "4"}).json()
        rest = client.get(paged["@odata.nextLink"]).json()
        assert len(paged["value"]) == 4 and len(rest["value"]) == 4 and "@odata.nextLink" in rest
        junk = client.get("/me/mailFolders/junkemail")
        assert junk.status_code == 200 and junk.json()["displayName"] == "Junk Email"


def test_an_inbox_rule_files_mail_on_arrival_and_marks_it_read(seeded: Seeded) -> None:
    with _client(seeded) as client:
        target = client.post("/me/mailFolders", json={"displayName": "Acme"}).json()["id"]
        rule = client.post("/me/mailFolders/inbox/messageRules", json={
            "displayName": "Acme", "sequence": 2, "isEnabled": True,
            "conditions": {"senderContains": ["clientco"], "subjectContains": ["smith"]},
            "actions": {"moveToFolder": target, "markAsRead": True, "stopProcessingRules": True}})
        assert rule.status_code == 201 and rule.json()["hasError"] is False
        seeded.emulator.send("carol@clientco.com", mail("carol@clientco.com", [seeded.alice.address],
                                                        subject="Re: Smith v. Jones"))
        seeded.emulator.send("carol@clientco.com", mail("carol@clientco.com", [seeded.alice.address],
                                                        subject="Lunch?"))
        [filed] = seeded.emulator.messages(seeded.alice.address, target)
        assert filed.parsed.subject == "Re: Smith v. Jones" and filed.is_read
        assert [m.parsed.subject for m in seeded.emulator.messages(seeded.alice.address, "inbox")] == ["Lunch?"]
        listed = client.get("/me/mailFolders/inbox/messageRules").json()["value"]
        assert [r["displayName"] for r in listed] == ["Acme"]
        assert client.delete(f"/me/mailFolders/inbox/messageRules/{listed[0]['id']}").status_code == 204
        archive = client.post("/me/mailFolders/archive/messageRules", json={
            "displayName": "x", "sequence": 1, "actions": {"markAsRead": True}})
        assert archive.status_code == 400  # rules live on the Inbox only
    with _client(seeded, ["Mail.ReadWrite"]) as client:
        assert client.get("/me/mailFolders/inbox/messageRules").status_code == 403  # MailboxSettings.* needed


def test_a_move_gives_the_item_a_new_default_id_and_keeps_its_immutable_id(seeded: Seeded) -> None:
    seeded.emulator.send("carol@clientco.com", mail("carol@clientco.com", [seeded.alice.address]))
    [stored] = seeded.emulator.messages(seeded.alice.address, "inbox")
    with _client(seeded) as client:
        round_ = client.get("/me/mailFolders/inbox/messages/delta").json()
        moved = client.post(f"/me/messages/{stored.id}/move", json={"destinationId": "archive"})
        assert moved.status_code == 201 and moved.json()["id"] != stored.id
        assert client.get(f"/me/messages/{moved.json()['id']}").status_code == 200
        removed = client.get(round_["@odata.deltaLink"]).json()["value"]
        assert removed == [{"@odata.type": "#microsoft.graph.message", "id": stored.id,
                            "@removed": {"reason": "deleted"}}]
    with _client(seeded, immutable=True) as client:
        assert client.get(f"/me/messages/{stored.id}").json()["id"] == stored.id  # immutable: unchanged


def test_send_as_needs_the_right_on_the_shared_mailbox(seeded: Seeded) -> None:
    seeded.emulator.add_shared_mailbox("info@contoso.com", "Contoso Info", seeded.alice.tenant_id,
                                       send_as=(seeded.alice.address,))
    message = {"subject": "From the desk", "from": {"emailAddress": {"address": "info@contoso.com"}},
               "toRecipients": [{"emailAddress": {"address": "carol@clientco.com"}}]}
    with _client(seeded) as client:
        assert client.post("/me/sendMail", json={"message": message}).status_code == 202
    [sent] = seeded.emulator.messages(seeded.alice.address, "sentitems")
    assert sent.parsed.from_ == ("Contoso Info", "info@contoso.com")
    bob = sign_in(seeded, seeded.bob, RULES)["access_token"]
    with httpx.Client(base_url=seeded.urls.graph_url, headers={"Authorization": f"Bearer {bob}"},
                      trust_env=False) as client:
        denied = client.post("/me/sendMail", json={"message": message})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "ErrorSendAsDenied"


def _sent_on_behalf_shows(client: httpx.Client, message_id: str) -> tuple[str, str, str]:
    """A message's ``from`` and ``sender`` addresses in its JSON, and the Sender line of its MIME ("" if none)."""
    found = client.get(f"/me/messages/{message_id}").json()
    mime = client.get(f"/me/messages/{message_id}/$value").text
    header = next((line for line in mime.splitlines() if line.lower().startswith("sender:")), "")
    return found["from"]["emailAddress"]["address"], found["sender"]["emailAddress"]["address"], header


def test_send_on_behalf_names_the_mailbox_in_from_and_the_user_in_sender(seeded: Seeded) -> None:
    seeded.emulator.add_shared_mailbox("info@contoso.com", "Contoso Info", seeded.alice.tenant_id,
                                       send_on_behalf=(seeded.alice.address,))
    message = {"subject": "On the desk's behalf", "from": {"emailAddress": {"address": "info@contoso.com"}},
               "toRecipients": [{"emailAddress": {"address": seeded.bob.address}}]}
    with _client(seeded) as client:
        assert client.post("/me/sendMail", json={"message": message}).status_code == 202
        [sent] = seeded.emulator.messages(seeded.alice.address, "sentitems")  # hers, not the shared mailbox's
        assert _sent_on_behalf_shows(client, sent.id) == (
            "info@contoso.com", seeded.alice.address, "Sender: Alice Adams <alice@contoso.com>")
        assert sent.parsed.from_ == ("Contoso Info", "info@contoso.com")
    assert seeded.emulator.messages("info@contoso.com", "sentitems") == []
    [received] = seeded.emulator.messages(seeded.bob.address, "inbox")  # Bob sees "Alice on behalf of Contoso Info"
    assert received.parsed.from_ == ("Contoso Info", "info@contoso.com")
    assert received.parsed.sender == ("Alice Adams", seeded.alice.address)

    seeded.emulator.grant_send_as("info@contoso.com", seeded.alice.address)  # both rights: Send As wins
    with _client(seeded) as client:
        assert client.post("/me/sendMail", json={"message": {**message, "subject": "As the desk"}}).status_code == 202
        [as_desk] = [m for m in seeded.emulator.messages(seeded.alice.address, "sentitems")
                     if m.parsed.subject == "As the desk"]
        assert _sent_on_behalf_shows(client, as_desk.id) == ("info@contoso.com", "info@contoso.com", "")
