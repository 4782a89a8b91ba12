"""The `bcc-capture` command against the test's database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from connector.config import get_settings
from tests.conftest import World


@pytest.fixture
def cli_on(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("BCC_CAPTURE_DATABASE__URL", world.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
