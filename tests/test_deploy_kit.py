"""The deployment kit: every process compose.yaml runs is a real command, and the image builds where Docker runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.main import get_command

from connector.app.cli import app

ROOT = Path(__file__).resolve().parent.parent


def _commands() -> set[tuple[str, ...]]:
    cli = get_command(app)
    found: set[tuple[str, ...]] = set()
    for name, command in cli.commands.items():  # type: ignore[attr-defined]
        found.add((name,))
        for sub in getattr(command, "commands", {}):
            found.add((name, sub))
    return found


def test_every_compose_service_of_the_image_runs_a_command_the_cli_has() -> None:
    services = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))["services"]
    known = _commands()
    ours = {name: spec for name, spec in services.items() if spec.get("build") == "."}
    assert set(ours) == {"migrate", "web", "worker", "smtp"}
    for name, spec in ours.items():
        words = [w for w in spec["command"] if not w.startswith("-")]
        assert tuple(words[:2]) in known or (words[0],) in known, f"{name}: {spec['command']}"


def test_the_env_example_names_only_settings_that_exist() -> None:
    from connector.config import load_settings

    names = [line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#") and line.startswith("BCC_CAPTURE_")]
    sections = load_settings().model_dump()
    for name in names:
        parts = name.removeprefix("BCC_CAPTURE_").lower().split("__")
        assert parts[0] in sections or parts[0] == "secret_key", name
        if len(parts) == 2:
            assert parts[1] in sections[parts[0]], name


@pytest.mark.skipif(shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True,
                                                                     timeout=20).returncode != 0,
                    reason="no container engine running here")
def test_the_image_builds_and_its_cli_answers() -> None:  # pragma: no cover - needs a Docker daemon
    subprocess.run(["docker", "build", "-t", "bcc-capture:test", str(ROOT)], check=True, timeout=1200)
    answer = subprocess.run(["docker", "run", "--rm", "bcc-capture:test", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert answer.returncode == 0 and "serve" in answer.stdout
