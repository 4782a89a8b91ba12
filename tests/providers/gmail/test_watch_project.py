"""Gmail publishes only to a Pub/Sub topic of the Cloud project the watch is made from (the OAuth client's, or
the service account's): a topic in another project is a configuration error the connector names at start-up,
not a watch that fails for every mailbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.config import Settings
from connector.errors import ConfigError
from emulators.gmail import GmailEmulator
from providers.gmail.adapter import build

from .conftest import ANN, PROJECT, PushReceiver, connect, mailbox_ref

pytestmark = pytest.mark.timeout(60)


def _with(settings: Settings, **gmail: object) -> Settings:
    return settings.model_copy(update={"gmail": settings.gmail.model_copy(update=gmail)})


def _start(settings: Settings) -> None:
    build(settings, lambda: datetime.now(UTC))


def test_a_topic_in_another_project_than_the_oauth_clients_stops_the_start(connector_settings: Settings) -> None:
    settings = _with(connector_settings, topic_name="projects/shared-infra/topics/gmail")
    with pytest.raises(ConfigError) as refused:
        _start(settings)
    assert refused.value.key == "gmail.topic_name"
    assert "'shared-infra'" in str(refused.value) and f"'{PROJECT}'" in str(refused.value)


def test_push_without_the_clients_project_stops_the_start(connector_settings: Settings) -> None:
    with pytest.raises(ConfigError) as refused:
        _start(_with(connector_settings, project_id=""))
    assert refused.value.key == "gmail.project_id"
    _start(_with(connector_settings, project_id="", topic_name=""))  # no push: polling needs no project


def test_a_service_account_of_another_project_stops_the_start(connector_settings: Settings, tmp_path: Path) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps({"type": "service_account", "project_id": "workspace-tools"}))
    with pytest.raises(ConfigError) as refused:
        _start(_with(connector_settings, service_account_file=str(key_file)))
    assert refused.value.key == "gmail.topic_name" and "gmail.service_account_file" in str(refused.value)


def test_a_watch_gmail_refuses_for_its_project_is_a_configuration_error(
        connector_settings: Settings, emulator: GmailEmulator, receiver: PushReceiver) -> None:
    # The settings claim the client is in the topic's project; Google knows better (the client is in PROJECT).
    topic = "projects/bcc-capture-prod/topics/gmail"
    emulator.configure_push(topic, receiver.url)
    settings = _with(connector_settings, topic_name=topic, project_id="bcc-capture-prod")
    provider = build(settings, lambda: datetime.now(UTC))[0]
    ann = mailbox_ref(connect(settings, ANN))
    with pytest.raises(ConfigError) as refused:
        provider.subscribe(ann, receiver.url, datetime.now(UTC), "")
    assert refused.value.key == "gmail.topic_name"
    assert f"does not match projects/{PROJECT}/topics/*" in str(refused.value)
