"""`bcc-capture wall add|list|remove`, `visibility policy|set` and `export --as USER` as an administrator uses
them: a walled user's export leaves the matter's mail out; every change is audited."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from connector.app.cli import app
from connector.services.capture import Capture
from tests.conftest import World
from tests.mailbuilder import mail, to_dropbox


def ok(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_an_administrator_walls_bob_off_a_matter_from_the_command_line(world: World, capture: Capture,
                                                                       cli_on: CliRunner, tmp_path: Path) -> None:
    for n, bcc in enumerate(("acme+10802@bcc.example.com", "notes@bcc.example.com")):
        capture.process(to_dropbox(mail("Alice Archer <alice@acme-law.com>", ["carol@clientco.com"], bcc=[bcc],
                                        subject=f"Mail {n}", message_id=f"<cli-{n}@acme-law.com>")))
    added = ok(cli_on, "wall", "add", "matter:10802", "bob@acme-law.com", "--reason", "conflict", "--by", "ada")
    assert added.startswith("wall ") and "bob@acme-law.com is walled from matter 10802 Smith v. Jones" in added
    [row] = json.loads(ok(cli_on, "wall", "list", "--json"))
    assert (row["user"], row["record"], row["reason"], row["by"]) == (
        "bob@acme-law.com", "matter 10802 Smith v. Jones", "conflict", "ada")
    twice = cli_on.invoke(app, ["wall", "add", "10802", "bob@acme-law.com"])
    assert twice.exit_code == 1 and "already walled" in twice.output

    ok(cli_on, "export", "--contact", "carol@clientco.com", "--as", "bob@acme-law.com",
       "--out", str(tmp_path / "b.zip"))
    ok(cli_on, "export", "--contact", "carol@clientco.com", "--out", str(tmp_path / "all.zip"))
    bobs = json.loads(zipfile.ZipFile(tmp_path / "b.zip").read("manifest.json"))
    everything = json.loads(zipfile.ZipFile(tmp_path / "all.zip").read("manifest.json"))
    assert [m["subject"] for m in bobs] == ["Mail 1"] and len(everything) == 2
    refused = cli_on.invoke(app, ["export", "--matter", "10802", "--as", "bob@acme-law.com",
                                  "--out", str(tmp_path / "m.zip")])
    assert refused.exit_code == 1 and "no matter 10802" in refused.output

    assert f"wall {row['id']} removed" in ok(cli_on, "wall", "remove", str(row["id"]))
    assert json.loads(ok(cli_on, "wall", "list", "--json")) == []
    audited = json.loads(ok(cli_on, "audit", "--json", "--action", "wall.added"))
    assert [a["detail"]["user"] for a in audited] == ["bob@acme-law.com"]


def test_the_company_policy_and_one_emails_visibility(world: World, capture: Capture, cli_on: CliRunner) -> None:
    applied = capture.process(to_dropbox(mail("Alice Archer <alice@acme-law.com>", ["carol@clientco.com"],
                                              bcc=["acme+10802@bcc.example.com"], subject="Terms",
                                              message_id="<terms@acme-law.com>")))
    bobs_try = ["visibility", "set", str(applied.activity_id), "owner", "--as", "bob@acme-law.com"]
    assert ok(cli_on, "visibility", "policy").startswith("company: mail is visible to everyone in the company")
    refused = cli_on.invoke(app, bobs_try)
    assert refused.exit_code == 1 and "only the user who logged this e-mail" in refused.output
    assert ok(cli_on, "visibility", "policy", "team").startswith("team: mail is visible to its owner, the users")
    hidden = cli_on.invoke(app, bobs_try)  # not on the mail nor the matter's team: he cannot even see it now
    assert hidden.exit_code == 1 and f"no logged e-mail {applied.activity_id}" in hidden.output
    assert "visible to owner" in ok(cli_on, "visibility", "set", str(applied.activity_id), "owner",
                                    "--as", "alice@acme-law.com")


def test_reading_mail_on_the_command_line_is_audited(world: World, capture: Capture, cli_on: CliRunner) -> None:
    capture.process(to_dropbox(mail("Alice Archer <alice@acme-law.com>", ["carol@clientco.com"],
                                    bcc=["acme+10802@bcc.example.com"], subject="Terms",
                                    message_id="<terms@acme-law.com>")))
    assert "Terms" in ok(cli_on, "log", "--matter", "10802")
    [viewed] = json.loads(ok(cli_on, "audit", "--json", "--action", "activity.viewed"))
    assert (viewed["reason"], viewed["detail"]["by"], viewed["internet_message_id"]) == (
        "cli", "cli", "<terms@acme-law.com>")
