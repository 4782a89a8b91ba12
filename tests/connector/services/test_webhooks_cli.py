"""`bcc-capture webhook add|list|log|redeliver` as an administrator uses them: the CRM's receiver registered
(its secret printed once), a URL inside the network refused, the delivery log after the receiver failed once,
and a redelivery that arrives with the same webhook-id. The receiver is a real HTTP server on loopback that
verifies what it gets with the code docs/integration.md gives; the worker's delivery loop is `run_once`."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from connector.app.cli import app
from connector.config import Settings
from connector.events.settings import EventSettings
from tests.conftest import World
from tests.connector.events.conftest import Events, crm, events_on  # noqa: F401 (fixture)
from tests.connector.web.receiver import Receiver


def ok(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def events(engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Events:
    monkeypatch.setenv("BCC_CAPTURE_EVENTS__ALLOWED_NETWORKS", '["127.0.0.0/8"]')  # the CRM runs on loopback here
    # The first retry an hour later: only a redelivery sends a failed event again within the test's minute.
    return events_on(engine, settings, EventSettings(allowed_networks=("127.0.0.0/8",), retry_first_seconds=3600))


def test_an_administrator_wires_the_crm_from_the_command_line(world: World, events: Events, cli_on: CliRunner,
                                                              crm: Receiver) -> None:  # noqa: F811
    added = ok(cli_on, "webhook", "add", crm.url, "--event", "activity.logged", "--description", "CRM timeline")
    first, second = added.splitlines()
    assert first.endswith(f"{crm.url} (activity.logged)")
    crm.secret = second.removeprefix("signing secret (shown only now): ")
    assert crm.secret.startswith("whsec_")
    inside = cli_on.invoke(app, ["webhook", "add", "http://169.254.169.254/latest/meta-data"])
    assert inside.exit_code == 1 and "link-local" in inside.output
    [endpoint] = json.loads(ok(cli_on, "webhook", "list", "--json"))
    assert (endpoint["url"], endpoint["events"], endpoint["active"], endpoint["description"]) == (
        crm.url, ["activity.logged"], True, "CRM timeline")
    assert "whsec_" not in ok(cli_on, "webhook", "list")  # never shown again

    events.log_mail(1)
    crm.statuses = [200, 500]  # the CRM fails the second event
    events.log_mail(2)
    events.dispatcher.run_once()
    failed, delivered = json.loads(ok(cli_on, "webhook", "log", "--json"))  # newest first
    assert (delivered["status"], delivered["response_code"], delivered["attempts"]) == ("delivered", 200, 1)
    assert (failed["status"], failed["response_code"], failed["attempts"]) == ("pending", 500, 1)
    printed = " ".join(ok(cli_on, "webhook", "log").split())  # as read, whatever the terminal's width
    assert f"{failed['id']} activity.logged {failed['event_id']} pending after 1 attempt(s) HTTP 500" in printed

    events.clock.advance(minutes=1)
    events.dispatcher.run_once()
    assert len(crm.received) == 2  # the retry waits an hour
    assert ok(cli_on, "webhook", "redeliver", str(failed["id"])).strip() == \
        f"delivery {failed['id']}: event {failed['event_id']} queued again"
    events.dispatcher.run_once()  # the worker's next round (its clock is a minute ahead of the CLI's)
    again = json.loads(ok(cli_on, "webhook", "log", "--json"))[0]
    assert (again["id"], again["status"], again["attempts"]) == (failed["id"], "delivered", 2)
    assert [e["data"]["subject"] for e in crm.verified] == ["Brief 1", "Brief 2", "Brief 2"]
    assert [r.headers["webhook-id"] for r in crm.received][1:] == [failed["event_id"]] * 2
    [audited] = json.loads(ok(cli_on, "audit", "--json", "--action", "webhook_redelivered"))
    assert (audited["detail"]["by"], audited["detail"]["event_id"]) == ("cli", failed["event_id"])
