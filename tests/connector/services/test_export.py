"""Export: a matter's mail comes out byte for byte as it came in, with a manifest whose SHA-256s hold."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

from typer.testing import CliRunner

from connector.app.cli import app
from connector.services.capture import Capture
from connector.services.export import Scope, export
from tests.conftest import World
from tests.mailbuilder import in_mailbox, mail, to_dropbox

ALICE = "Alice Archer <alice@acme-law.com>"
MATTER = "acme+10802@bcc.example.com"
PDF = ("brief.pdf", "application/pdf", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def file_mail(capture: Capture) -> dict[str, bytes]:
    first = mail(ALICE, ["carol@clientco.com"], cc=["hank@globex.com"], bcc=[MATTER], subject="Settlement draft",
                 message_id="<x1@acme>", attachments=[PDF], date=datetime(2026, 3, 2, 9, tzinfo=UTC))
    # Bytes a re-serializing parser would change: folded header, odd spacing, CRLF line ends, Latin-1 body.
    reply = (b"From: Carol Client <carol@clientco.com>\r\nTo: alice@acme-law.com\r\nSubject: Re: Settlement\r\n"
             b"  draft\r\nDate: Mon, 9 Mar 2026 10:00:00 +0100\r\nMessage-ID: <x2@client>\r\n"
             b"In-Reply-To: <x1@acme>\r\nReferences:   <x1@acme>\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
             b"\r\nAgreed, see you in M\xfcnchen.\r\n")
    other = mail(ALICE, ["hank@globex.com"], bcc=["1001.acme@bcc.example.com"], subject="Website",
                 message_id="<x3@acme>")
    capture.process(to_dropbox(first))
    capture.process(in_mailbox(reply, "alice@acme-law.com"))
    capture.process(to_dropbox(other))
    return {"<x1@acme>": first, "<x2@client>": reply}


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def run_export(world: World, scope: Scope) -> dict[str, bytes]:
    out = io.BytesIO()
    with world.session() as session:
        export(session, world.tenant, scope, out)
        session.commit()
    return unzip(out.getvalue())


def test_a_matter_export_gives_back_the_original_messages_and_a_manifest_that_proves_them(
        world: World, capture: Capture) -> None:
    originals = file_mail(capture)
    files = run_export(world, Scope(matter="10802"))
    manifest = json.loads(files["manifest.json"])
    assert [m["message_id"] for m in manifest] == ["<x1@acme>", "<x2@client>"]  # not the project's mail
    for entry in manifest:
        eml = next(f for f in entry["files"] if f["kind"] == "message")
        assert files[eml["file"]] == originals[entry["message_id"]]  # byte for byte as received
        assert eml["sha256"] == sha(originals[entry["message_id"]])
        for item in entry["files"]:
            assert sha(files[item["file"]]) == item["sha256"]
    first = manifest[0]
    assert (first["from"], first["to"], first["cc"], first["subject"]) == (
        "alice@acme-law.com", ["carol@clientco.com"], ["hank@globex.com"], "Settlement draft")
    assert "matter:10802" in first["filed_under"] and first["sources"] == ["smtp"]
    assert manifest[1]["sources"] == ["file:alice@acme-law.com"]
    attachment = next(f for f in first["files"] if f["kind"] == "attachment")
    assert attachment["file"].endswith("/attachments/brief.pdf") and files[attachment["file"]] == PDF[2]
    rows = list(csv.DictReader(io.StringIO(files["manifest.csv"].decode())))
    assert {(r["message_id"], r["file"], r["sha256"]) for r in rows} == {
        (m["message_id"], f["file"], f["sha256"]) for m in manifest for f in m["files"]}


def test_a_contact_and_a_period_narrow_the_export(world: World, capture: Capture) -> None:
    file_mail(capture)
    files = run_export(world, Scope(contact="Carol@ClientCo.com", since=date(2026, 3, 5), until=date(2026, 3, 9)))
    assert [m["message_id"] for m in json.loads(files["manifest.json"])] == ["<x2@client>"]
    files = run_export(world, Scope(contact="hank@globex.com"))  # a participant of both, whatever they are filed under
    assert [m["message_id"] for m in json.loads(files["manifest.json"])] == ["<x1@acme>", "<x3@acme>"]
    files = run_export(world, Scope(contact="hank@globex.com", until=date(2026, 3, 8)))
    assert [m["message_id"] for m in json.loads(files["manifest.json"])] == ["<x1@acme>"]


def test_the_cli_writes_the_zip_and_audits_the_export(world: World, capture: Capture, cli_on: CliRunner,
                                                      tmp_path: Path) -> None:
    originals = file_mail(capture)
    out = tmp_path / "smith-v-jones.zip"
    result = cli_on.invoke(app, ["export", "--matter", "10802", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 messages" in result.output
    files = unzip(out.read_bytes())
    assert sorted(sha(c) for n, c in files.items() if n.endswith(".eml")) == sorted(map(sha, originals.values()))
    listed = cli_on.invoke(app, ["audit", "--action", "exported", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.output)[0]["detail"]["messages"] == 2
    wrong = cli_on.invoke(app, ["export", "--matter", "99999", "--out", str(tmp_path / "x.zip")])
    assert wrong.exit_code == 1 and "no matter 99999" in wrong.output
