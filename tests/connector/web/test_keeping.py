"""How long mail is kept, from the console and the API: export as a streamed zip whose SHA-256s hold, retention
rules, legal holds that stop unlogging, and the erasure of a person with its report."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from fastapi.testclient import TestClient
from sqlmodel import col, select

from connector.db import transaction
from connector.models import AuditEntry, LegalHold, Record
from tests.connector.web.conftest import MATTER, PDF, Site, flash_of, log_matter_mail, sign_in, sqlite_only, text_of
from tests.connector.web.test_api import token_for
from tests.mailbuilder import mail, to_dropbox


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def assert_round_trip(files: dict[str, bytes], message_ids: list[str]) -> None:
    manifest = json.loads(files["manifest.json"])
    assert [m["message_id"] for m in manifest] == message_ids
    for entry in manifest:
        for item in entry["files"]:
            assert hashlib.sha256(files[item["file"]]).hexdigest() == item["sha256"]


def test_a_user_downloads_a_matters_mail_and_a_program_exports_a_contacts_period(client: TestClient,
                                                                                 site: Site) -> None:
    raw = mail("Alice Archer <alice@acme-law.com>", ["Carol Client <carol@clientco.com>"], bcc=[MATTER],
               subject="Settlement draft", message_id="<m1@acme-law.com>", attachments=[PDF])
    site.capture.process(to_dropbox(raw))
    log_matter_mail(site, subject="Later", message_id="<m2@acme-law.com>")
    sign_in(client, site, "alice@acme-law.com")
    got = client.get(f"/records/{site.world.matter.id}/export.zip")
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    assert got.headers["content-disposition"] == 'attachment; filename="matter-10802.zip"'
    files = unzip(got.content)
    assert_round_trip(files, ["<m1@acme-law.com>", "<m2@acme-law.com>"])
    eml = next(content for name, content in files.items() if name.endswith("Settlement draft/message.eml"))
    assert eml == raw  # byte for byte as received
    headers = token_for(site)
    with transaction(site.engine) as session:
        carol = session.exec(select(Record.id).where(Record.email == "carol@clientco.com")).one()
    period = client.get(f"/api/v1/export/records/{carol}", params={"since": "2026-03-09", "until": "2026-03-09"},
                        headers=headers)
    assert period.status_code == 200, period.text
    assert_round_trip(unzip(period.content), ["<m1@acme-law.com>", "<m2@acme-law.com>"])
    assert client.get(f"/api/v1/export/records/{site.world.project.id}", headers=headers).status_code == 422
    assert client.get(f"/api/v1/export/records/{site.other.record_id}", headers=headers).status_code == 404
    with transaction(site.engine) as session:
        exported = session.exec(select(AuditEntry).where(AuditEntry.action == "exported")
                                .order_by(col(AuditEntry.id))).all()
    assert [(e.detail["by"], e.detail["messages"]) for e in exported] == [
        ("alice@acme-law.com (console)", 2), ("API token Practice sync", 2)]


@sqlite_only
def test_an_administrator_sets_a_rule_places_a_hold_that_stops_unlogging_and_releases_it(client: TestClient,
                                                                                        site: Site) -> None:
    activity_id = log_matter_mail(site)
    csrf = sign_in(client, site, "ada@acme-law.com")
    saved = client.post("/admin/retention/rules", data={"csrf": csrf, "kind": "matter", "years": "7", "days": "0",
                                                         "trigger": "after_close"}, follow_redirects=True)
    assert "Retention rule saved: matter: 7 years after close." in flash_of(saved.text)
    placed = client.post("/admin/holds", data={"csrf": csrf, "kind": "matter", "key": "10802",
                                               "reason": "Smith v. Jones: preservation letter"}, follow_redirects=True)
    [message] = flash_of(placed.text)
    assert message.startswith("Legal hold") and "Smith v. Jones: preservation letter" in text_of(placed.text)
    refused = client.post(f"/activities/{activity_id}/unlog", data={"csrf": csrf, "back": "/records"},
                          follow_redirects=True)
    assert "It cannot be unlogged until the hold is released" in " ".join(flash_of(refused.text)).replace("it cannot",
                                                                                                          "It cannot")
    with transaction(site.engine) as session:
        hold = session.exec(select(LegalHold)).one()
    released = client.post(f"/admin/holds/{hold.id}/release", data={"csrf": csrf}, follow_redirects=True)
    assert flash_of(released.text) == [f"Legal hold {hold.id} released."]
    unlogged = client.post(f"/activities/{activity_id}/unlog", data={"csrf": csrf, "back": "/records"},
                           follow_redirects=True)
    assert "is no longer logged" in " ".join(flash_of(unlogged.text))
    sign_in(client, site, "alice@acme-law.com")
    assert client.get("/admin/holds").status_code == 403 and client.get("/admin/erasure").status_code == 403


@sqlite_only
def test_an_administrator_erases_a_person_after_seeing_what_would_change(client: TestClient, site: Site) -> None:
    log_matter_mail(site)
    csrf = sign_in(client, site, "ada@acme-law.com")
    dry = client.post("/admin/erasure", data={"csrf": csrf, "address": "carol@clientco.com", "dry_run": "on"},
                      follow_redirects=True)
    assert flash_of(dry.text) == ["Nothing was changed: this is what erasure would do."]
    assert "Would erase" in text_of(dry.text) and "participant: 1 row rewritten" in text_of(dry.text)
    done = client.post("/admin/erasure", data={"csrf": csrf, "address": "carol@clientco.com"}, follow_redirects=True)
    assert "The person is erased" in flash_of(done.text)[0] and "original messages deleted: 1" in text_of(done.text)
    assert "carol@clientco.com" not in client.get(f"/records/{site.world.matter.id}").text
    assert "Erased (erasure" not in text_of(client.get("/admin/erasure").text)  # the report is shown once


def test_a_program_manages_rules_and_holds_and_erases_with_a_dry_run_first(client: TestClient, site: Site) -> None:
    log_matter_mail(site)
    headers = token_for(site, name="Records office")
    rule = client.put("/api/v1/retention/rules/matter", json={"years": 7}, headers=headers)
    assert rule.status_code == 200 and rule.json()["rule"] == "matter: 7 years after close"
    assert client.put("/api/v1/retention/rules/spaceship", json={"years": 1}, headers=headers).status_code == 422
    assert [r["kind"] for r in client.get("/api/v1/retention/rules", headers=headers).json()] == ["matter"]
    with transaction(site.engine) as session:
        carol = session.exec(select(Record.id).where(Record.email == "carol@clientco.com")).one()
    hold = client.post("/api/v1/holds", json={"record_id": carol, "reason": "Client's data request"}, headers=headers)
    assert hold.status_code == 201 and hold.json()["placed_by"] == "API token Records office"
    blocked = client.post("/api/v1/erasures", json={"address": "carol@clientco.com", "dry_run": False},
                          headers=headers)
    assert blocked.status_code == 409 and f"legal hold {hold.json()['id']}" in blocked.json()["detail"]
    assert client.post(f"/api/v1/holds/{hold.json()['id']}/release", headers=headers).status_code == 200
    assert client.post(f"/api/v1/holds/{hold.json()['id']}/release", headers=headers).status_code == 409
    assert client.post("/api/v1/holds", json={"record_id": site.other.record_id, "reason": "x"},
                       headers=headers).status_code == 404
    dry = client.post("/api/v1/erasures", json={"address": "carol@clientco.com"}, headers=headers).json()
    assert dry["dry_run"] is True and dry["rows"]["participant"] == 1
    done = client.post("/api/v1/erasures", json={"address": "carol@clientco.com", "dry_run": False},
                       headers=headers).json()
    assert done["rows"] == dry["rows"] and done["originals"] == 1
    assert client.get("/api/v1/retention/register", headers=headers).json() == []
