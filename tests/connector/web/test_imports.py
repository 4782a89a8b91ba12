"""Archive imports through HTTP: a program uploads an mbox to the JSON API, a worker imports it, and the status
shows the summary by reason; an administrator does the same in the console; anyone else gets 403, another
company's import is a 404, and an upload over the limit is refused with 413 and leaves nothing on disk."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from connector.config import ImportSettings
from connector.db import transaction
from connector.models import Activity, ImportJob
from connector.services.import_runner import ImportRunner
from tests.connector.services.test_archive import mbox
from tests.connector.web.conftest import MATTER, Site, csrf_of, flash_of, sign_in, sqlite_only, text_of
from tests.connector.web.test_api import token_for
from tests.mailbuilder import mail

ALICE = "Alice Archer <alice@acme-law.com>"


def archive() -> bytes:
    """Three for the matter, one for notes@ with nobody known, one from a stranger, one empty message."""
    raws = [mail(ALICE, ["carol@clientco.com"], bcc=[MATTER], subject=f"Brief {n}", message_id=f"<b{n}@acme-law.com>")
            for n in range(3)]
    raws.append(mail(ALICE, ["quinn@newclient.example"], bcc=["notes@bcc.example.com"], subject="Intro",
                     message_id="<intro@acme-law.com>"))
    raws.append(mail("Zed <zed@stranger.example>", ["carol@clientco.com"], bcc=[MATTER], subject="Spam",
                     message_id="<zed@stranger.example>"))
    return mbox(raws) + b"From nobody Mon Mar  9 14:30:00 2026\n\n"


@pytest.fixture
def spool(site: Site, tmp_path: Path) -> Path:
    """Uploads go to this test's own spool, with a small limit to try."""
    site.context.settings = site.settings.model_copy(update={"imports": ImportSettings(
        spool_dir=str(tmp_path / "spool"), max_upload_bytes=64 * 1024, lease_seconds=5)})
    return tmp_path / "spool"


def work(site: Site) -> int | None:
    """A worker's import duty, one round."""
    return ImportRunner(site.engine, site.context.settings, "test-worker", batch=2).run_once()


def test_a_program_uploads_an_mbox_and_reads_the_summary_once_a_worker_ran_it(
        client: TestClient, site: Site, spool: Path) -> None:
    headers = token_for(site)
    answer = client.post("/api/v1/imports", files={"file": ("2019.mbox", archive(), "application/mbox")},
                         headers=headers)
    assert answer.status_code == 202, answer.text
    created = answer.json()
    assert (created["state"], created["filename"], created["done"]) == ("pending", "2019.mbox", 0)
    assert created["created_by"] == "API token Practice sync"
    assert work(site) == created["id"]
    status = client.get(f"/api/v1/imports/{created['id']}", headers=headers).json()
    assert (status["state"], status["total"], status["done"], status["percent"]) == ("done", 6, 6, 100)
    assert status["summary"] == {"filed": {"addressed": 3}, "unassigned": {"no_matching_contact": 1},
                                 "refused": {"unauthorized_sender": 1}, "unreadable": {"unparseable": 1}}
    [unreadable] = status["unreadable"]
    assert unreadable["message"] == "2019.mbox#6" and unreadable["reason"].startswith("unparseable")
    assert status["rate_per_second"] > 0
    with transaction(site.engine) as session:
        subjects = sorted(a.subject for a in session.exec(select(Activity).where(
            Activity.tenant_id == site.world.tenant.id)))
    assert subjects == ["Brief 0", "Brief 1", "Brief 2"]
    assert not list(spool.iterdir())  # the upload is gone once its mail is filed
    listing = client.get("/api/v1/imports", headers=headers).json()
    assert [i["id"] for i in listing] == [created["id"]]


def test_a_raw_body_names_its_format_by_content_type_and_a_zip_of_eml_files_is_unpacked(
        client: TestClient, site: Site, spool: Path) -> None:
    headers = token_for(site)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as zipped:
        for n in range(2):
            zipped.writestr(f"../../escape/m{n}.eml", mail(ALICE, ["carol@clientco.com"], bcc=[MATTER],
                                                            subject=f"Zipped {n}", message_id=f"<z{n}@acme-law.com>"))
        zipped.writestr("notes.txt", b"not mail")
    answer = client.post("/api/v1/imports?filename=export.zip", content=packed.getvalue(),
                         headers={**headers, "Content-Type": "application/zip"})
    assert answer.status_code == 202, answer.text
    work(site)
    status = client.get(f"/api/v1/imports/{answer.json()['id']}", headers=headers).json()
    assert (status["state"], status["total"], status["summary"]) == ("done", 2, {"filed": {"addressed": 2}})
    assert not (spool.parent / "escape").exists()
    unknown = client.post("/api/v1/imports", content=b"hello", headers={**headers, "Content-Type": "text/plain"})
    assert unknown.status_code == 415
    broken = client.post("/api/v1/imports", content=b"PK not a zip", headers={**headers,
                                                                             "Content-Type": "application/zip"})
    work(site)
    failed = client.get(f"/api/v1/imports/{broken.json()['id']}", headers=headers).json()
    assert failed["state"] == "failed" and "not a readable .zip" in failed["error"]


def test_an_upload_over_the_limit_is_413_and_leaves_nothing_behind(client: TestClient, site: Site,
                                                                      spool: Path) -> None:
    headers = token_for(site)
    big = b"From a Mon Mar  9 14:30:00 2026\n" + b"x" * (65 * 1024)
    declared = client.post("/api/v1/imports", files={"file": ("big.mbox", big)}, headers=headers)
    assert declared.status_code == 413 and "imports.max_upload_bytes" in declared.json()["detail"]

    def chunks() -> object:  # no Content-Length: the limit is found while streaming
        for start in range(0, len(big), 8192):
            yield big[start:start + 8192]
    streamed = client.post("/api/v1/imports", content=chunks(),
                           headers={**headers, "Content-Type": "application/mbox"})
    assert streamed.status_code == 413
    assert not list(spool.iterdir()) and client.get("/api/v1/imports", headers=headers).json() == []
    wrong = client.post("/api/v1/imports", files={"file": ("notes.txt", b"hello")}, headers=headers)
    assert wrong.status_code == 422 and "not an archive" in wrong.json()["detail"]
    stranger = client.post("/api/v1/imports?mailbox=oscar@other.example", files={"file": ("a.mbox", archive())},
                           headers=headers)
    assert stranger.status_code == 422 and not list(spool.iterdir())
    nul = client.post("/api/v1/imports", data={"mailbox": "alice@acme-law.com\x00"},
                      files={"file": ("a.mbox", archive())}, headers=headers)
    assert nul.status_code == 400 and not list(spool.iterdir())


def test_another_companys_import_is_a_404_and_its_token_lists_only_its_own(client: TestClient, site: Site,
                                                                             spool: Path) -> None:
    ours = client.post("/api/v1/imports", files={"file": ("a.mbox", archive())}, headers=token_for(site)).json()
    theirs = token_for(site, site.other.tenant.id, name="Other's sync")
    assert client.get(f"/api/v1/imports/{ours['id']}", headers=theirs).status_code == 404
    assert client.get("/api/v1/imports", headers=theirs).json() == []
    assert client.post("/api/v1/imports", files={"file": ("a.mbox", archive())}).status_code == 401


@sqlite_only
def test_an_admin_uploads_in_the_console_and_follows_the_import(client: TestClient, site: Site, spool: Path) -> None:
    csrf = sign_in(client, site, "ada@acme-law.com")
    page = client.get("/admin/imports")
    assert page.status_code == 200 and "No imports yet" in text_of(page.text)
    forged = client.post("/admin/imports", data={"csrf": "forged"}, files={"file": ("a.mbox", archive())})
    assert forged.status_code == 403 and not list(spool.iterdir())
    sent = client.post("/admin/imports", data={"csrf": csrf_of(page.text), "mailbox": ""},
                       files={"file": ("2019.mbox", archive(), "application/mbox")})
    assert sent.status_code == 303, sent.text
    waiting = client.get(sent.headers["location"])
    assert "Uploaded" in flash_of(waiting.text)[0] and 'http-equiv="refresh"' in waiting.text
    assert "Waiting for a worker" in text_of(waiting.text)
    work(site)
    done = text_of(client.get(sent.headers["location"]).text)
    assert "Done" in done and "6 of 6" in done and "http-equiv" not in done
    assert "filed addressed" in done and "refused unauthorized_sender" in done and "2019.mbox#6" in done
    assert csrf  # signed in


@sqlite_only
def test_a_user_who_is_not_an_administrator_gets_403(client: TestClient, site: Site, spool: Path) -> None:
    csrf = sign_in(client, site, "alice@acme-law.com")
    assert client.get("/admin/imports").status_code == 403
    refused = client.post("/admin/imports", data={"csrf": csrf}, files={"file": ("a.mbox", archive())})
    assert refused.status_code == 403 and not spool.exists()  # refused before anything was written
    with transaction(site.engine) as session:
        assert session.exec(select(ImportJob)).all() == []
