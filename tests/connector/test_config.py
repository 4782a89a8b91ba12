"""Settings: a wrong or missing key fails at start with a message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import Mode, load_settings
from connector.errors import ConfigError


def test_environment_overrides_the_settings_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCC_CAPTURE_ATTACHMENTS__MAX_TOTAL_BYTES", "2048")
    monkeypatch.setenv("BCC_CAPTURE_ACTIVITY__STATUS", "Logged")
    settings = load_settings()
    assert settings.attachments.max_total_bytes == 2048
    assert settings.activity.status == "Logged"


def test_an_unknown_key_in_the_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("dropbox:\n  domians: [bcc.example.com]\n")
    monkeypatch.setenv("BCC_CAPTURE_SETTINGS", str(path))
    with pytest.raises(ConfigError, match=r"dropbox\.domians"):
        load_settings()


def test_a_wrong_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCC_CAPTURE_CONTACTS__SEARCH_PATTERN", "everything")
    with pytest.raises(ConfigError, match=r"contacts\.search_pattern"):
        load_settings()


def test_the_secret_key_is_never_read_from_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("secret_key: hunter2\n")
    monkeypatch.setenv("BCC_CAPTURE_SETTINGS", str(path))
    with pytest.raises(ConfigError, match="must come from the environment"):
        load_settings()


def test_production_refuses_to_start_without_a_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCC_CAPTURE_MODE", "production")
    monkeypatch.delenv("BCC_CAPTURE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="secret_key"):
        load_settings()
    monkeypatch.setenv("BCC_CAPTURE_SECRET_KEY", "x" * 44)
    assert load_settings().mode is Mode.PRODUCTION


def test_a_setting_can_come_from_a_secrets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "graph_client_secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("BCC_CAPTURE_GRAPH__CLIENT_SECRET_FILE", str(secret))
    monkeypatch.setenv("BCC_CAPTURE_GRAPH__CLIENT_ID", "app-id")
    settings = load_settings()
    assert (settings.graph.client_secret, settings.graph.client_id) == ("s3cret", "app-id")


def test_an_unreadable_secrets_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCC_CAPTURE_SECRET_KEY_FILE", "/nonexistent/key")
    with pytest.raises(ConfigError, match="BCC_CAPTURE_SECRET_KEY_FILE"):
        load_settings()


def test_a_misspelled_variable_is_named_on_stderr(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BCC_CAPTURE_DATABSE__URL", "sqlite://")  # a misspelled key inside a section is an error
    load_settings()
    assert "BCC_CAPTURE_DATABSE__URL is not a bcc-capture setting" in capsys.readouterr().err
