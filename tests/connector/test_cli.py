"""The `bcc-capture` command as an administrator and a user meet it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.app.cli import app
from connector.config import get_settings
from tests.mailbuilder import mail

runner = CliRunner()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BCC_CAPTURE_DATABASE__URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    yield runner
    get_settings.cache_clear()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_commands_refuse_an_unmigrated_database_with_a_clear_line(cli: CliRunner) -> None:
    result = cli.invoke(app, ["tenant", "create", "Acme", "--slug", "acme"])
    assert result.exit_code == 1
    assert "run `bcc-capture db upgrade`" in result.output


def test_an_admin_sets_up_a_company_and_mail_is_ingested_and_listed(cli: CliRunner, tmp_path: Path) -> None:
    run("db", "upgrade")
    run("tenant", "create", "Acme Law", "--slug", "acme", "--domain", "acme-law.com")
    refused = cli.invoke(app, ["tenant", "enable", "acme"])
    assert refused.exit_code == 1 and "verify the domain" in refused.output
    run("role", "grant", "Standard User")
    run("user", "create", "alice@acme-law.com", "--name", "Alice Archer")
    not_yet = cli.invoke(app, ["user", "enable", "alice@acme-law.com"])
    assert not_yet.exit_code == 1 and "level 1" in not_yet.output
    # Verify through the real resolver against a loopback DNS server publishing the record.
    from connector.services.dns_verify import TXT_PREFIX
    from emulators.dns import TxtServer

    with TxtServer() as dns_server:
        from sqlmodel import Session, select

        from connector.db import make_engine
        from connector.models import Tenant

        with Session(make_engine(get_settings().database.url)) as session:
            token = session.exec(select(Tenant.txt_token)).one()
        dns_server.publish("acme-law.com", f"{TXT_PREFIX}{token}")
        assert "verified" in run("tenant", "verify", "acme", "--nameserver", "127.0.0.1",
                                 "--port", str(dns_server.port))
    run("tenant", "enable", "acme")
    run("user", "enable", "alice@acme-law.com")
    run("record", "create", "matter", "--number", "10802", "--title", "Smith v. Jones")
    run("record", "create", "contact", "--email", "carol@clientco.com", "--name", "Carol Client")
    sent = tmp_path / "sent.eml"
    sent.write_bytes(mail("alice@acme-law.com", ["carol@clientco.com"], bcc=["acme+10802@bcc.example.com"],
                          subject="Settlement", message_id="<s@acme>"))
    spoof = tmp_path / "spoof.eml"
    spoof.write_bytes(mail("mallory@evil.example", ["acme+10802@bcc.example.com"], message_id="<x@evil>"))
    garbage = tmp_path / "garbage.eml"
    garbage.write_bytes(b"")
    report = json.loads(run("ingest", str(sent), str(spoof), str(garbage), "--json"))
    outcomes = {Path(r["message"]).name: (r["outcome"], r["reason"]) for r in report}
    assert outcomes["sent.eml"] == ("logged", "addressed")
    assert outcomes["spoof.eml"] == ("refused", "unauthorized_sender")
    assert outcomes["garbage.eml"][0] == "unreadable"
    threads = json.loads(run("log", "--matter", "10802", "--json"))
    assert [m["subject"] for t in threads for m in t["messages"]] == ["Settlement"]
    audit = json.loads(run("audit", "--action", "refused", "--json"))
    assert [a["reason"] for a in audit] == ["unauthorized_sender"]
    vcard = run("user", "vcard", "alice@acme-law.com")
    assert "BEGIN:VCARD" in vcard and "@bcc.example.com" in vcard


def test_an_unknown_record_kind_is_one_clear_error(cli: CliRunner) -> None:
    run("db", "upgrade")
    run("tenant", "create", "Acme Law", "--slug", "acme")
    result = cli.invoke(app, ["record", "create", "spaceship", "--number", "1"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: unknown record kind 'spaceship'")


def test_emulate_all_runs_both_emulators_and_prints_how_to_point_the_connector_at_them() -> None:
    import subprocess
    import sys

    import httpx

    process = subprocess.Popen([sys.executable, "-m", "connector.app.cli", "emulate", "all"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.strip())
            if line.startswith("Ctrl-C"):
                break
        graph_url = next(line.split()[-1] for line in lines if line.startswith("Microsoft Graph"))
        assert httpx.get(f"{graph_url}/me", timeout=5).status_code == 401  # a real Graph answer
        assert any(line.startswith("export BCC_CAPTURE_GRAPH__GRAPH_URL=") for line in lines)
        assert any(line.startswith("export BCC_CAPTURE_GMAIL__API_ENDPOINT=") for line in lines)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_an_unreachable_database_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCC_CAPTURE_DATABASE__URL", "postgresql+psycopg://postgres@127.0.0.1:9/nowhere")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["status"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert result.output.startswith("error: database postgresql+psycopg://postgres@127.0.0.1:9/nowhere: ")
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_a_bad_key_fails_before_enabling_anything(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    run("db", "upgrade")
    run("tenant", "create", "Acme Law", "--slug", "acme")
    run("user", "create", "alice@acme-law.com")
    monkeypatch.setenv("BCC_CAPTURE_SECRET_KEY", "not-a-key")
    get_settings.cache_clear()
    result = cli.invoke(app, ["user", "enable", "alice@acme-law.com"])
    assert result.exit_code == 1 and "enabled" not in result.output and "bcc-capture secret new" in result.output


def _company_with_alice(cli: CliRunner) -> None:
    from connector.db import make_engine, transaction
    from connector.services import tenants
    from tests.conftest import StaticTxt

    run("db", "upgrade")
    run("tenant", "create", "Acme Law", "--slug", "acme", "--domain", "acme-law.com")
    with transaction(make_engine(get_settings().database.url)) as session:
        firm = tenants.get_tenant(session, "acme")
        tenants.verify_domain(session, firm, StaticTxt({"acme-law.com": [tenants.txt_record(firm)]}))
    run("tenant", "enable", "acme")
    run("role", "grant", "Standard User")
    run("user", "create", "alice@acme-law.com", "--name", "Alice Archer")
    run("user", "enable", "alice@acme-law.com")


def test_a_contacts_log_lists_the_mail_she_took_part_in(cli: CliRunner, tmp_path: Path) -> None:
    _company_with_alice(cli)
    run("record", "create", "matter", "--number", "10802", "--title", "Smith v. Jones")
    run("record", "create", "contact", "--email", "carol@clientco.com", "--name", "Carol Client")
    sent = tmp_path / "sent.eml"
    sent.write_bytes(mail("alice@acme-law.com", ["carol@clientco.com"], bcc=["acme+10802@bcc.example.com"],
                          subject="Settlement", message_id="<s@acme>"))
    run("ingest", str(sent))
    threads = json.loads(run("log", "--contact", "carol@clientco.com", "--json"))
    assert [m["subject"] for t in threads for m in t["messages"]] == ["Settlement"]  # filed under the matter only
    assert "No e-mail logged yet" not in run("log", "--contact", "carol@clientco.com")


def test_a_contact_is_not_created_twice(cli: CliRunner) -> None:
    _company_with_alice(cli)
    run("record", "create", "contact", "--email", "carol@clientco.com", "--name", "Carol Client")
    again = cli.invoke(app, ["record", "create", "contact", "--email", "Carol@ClientCo.com", "--name", "C. Client"])
    assert again.exit_code == 1 and "contact carol@clientco.com already exists" in again.output
    assert len(json.loads(run("record", "list", "--kind", "contact", "--json"))) == 1


def test_the_first_administrator_is_made_from_the_cli_and_keeps_capturing(cli: CliRunner) -> None:
    _company_with_alice(cli)
    run("user", "create", "ada@acme-law.com", "--name", "Ada Admin", "--role", "Administrator")
    assert "capture enabled" in run("user", "enable", "ada@acme-law.com")  # administrators may use capture
    assert "alice@acme-law.com now has the role Administrator" in run("user", "role", "alice@acme-law.com",
                                                                       "Administrator")
    unknown = cli.invoke(app, ["user", "role", "alice@acme-law.com", "Overlord"])
    assert unknown.exit_code == 1 and "no role 'Overlord'" in unknown.output


def test_google_delegation_is_refused_without_a_service_account(cli: CliRunner) -> None:
    _company_with_alice(cli)
    refused = cli.invoke(app, ["tenant", "access", "acme", "gmail"])
    assert refused.exit_code == 1 and "needs a Google service account" in refused.output
    assert "mailbox" not in run("user", "enable", "alice@acme-law.com")  # nothing was switched on or connected


def test_an_unexpected_failure_is_one_line_with_the_traceback_kept(cli: CliRunner, tmp_path: Path) -> None:
    run("db", "upgrade")
    run("tenant", "create", "Acme Law", "--slug", "acme")
    run("user", "create", "alice@acme-law.com")
    result = cli.invoke(app, ["user", "vcard", "alice@acme-law.com", "--out", str(tmp_path / "missing" / "a.vcf")])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("error: unexpected FileNotFoundError")
    kept = Path(result.output.rsplit("traceback in ", 1)[1].rstrip(")\n"))
    assert "Traceback" in kept.read_text()


def test_a_user_lists_and_releases_mail_quarantined_in_her_name(cli: CliRunner) -> None:
    from sqlmodel import Session, select

    from connector.db import make_engine
    from connector.models import User
    from connector.services.quarantine import quarantine

    run("db", "upgrade")
    run("tenant", "create", "Acme Law", "--slug", "acme")
    run("user", "create", "alice@acme-law.com")
    run("user", "create", "bob@acme-law.com")
    with Session(make_engine(get_settings().database.url)) as session:
        alice = session.exec(select(User).where(User.email == "alice@acme-law.com")).one()
        item = quarantine(session, mail("Alice <alice@acme-law.com>", ["carol@clientco.com"], subject="Wire [b]now"),
                          "unauthenticated_sender", source="smtp", tenant_id=alice.tenant_id, user_id=alice.id)
        session.commit()
        item_id = item.id
    assert "Wire [b]now" in run("quarantine", "list", "--as", "alice@acme-law.com")
    assert "Wire" not in run("quarantine", "list", "--as", "bob@acme-law.com")  # not his, and not an admin
    refused = runner.invoke(app, ["quarantine", "release", str(item_id), "--as", "bob@acme-law.com"])
    assert refused.exit_code == 1 and f"no quarantined message {item_id}" in refused.output
    assert f"quarantined message {item_id} released" in run("quarantine", "release", str(item_id), "--as",
                                                           "alice@acme-law.com")
    assert "Wire" not in run("quarantine", "list", "--as", "alice@acme-law.com")
