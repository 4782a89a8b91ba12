"""`bcc-capture emulate` as an integrator runs it: stopped by Ctrl-C or by SIGTERM (a service manager), it
leaves no test CA behind unless asked to with --keep."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def _emulate_until_ready(*extra: str) -> tuple[subprocess.Popen[str], Path]:
    process = subprocess.Popen([sys.executable, "-m", "connector.app.cli", "emulate", "all", *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line.strip())
        if line.startswith("Ctrl-C"):
            break
    ca = Path(next(line.split()[-1] for line in lines if line.startswith("emulator test CA")))
    assert ca.is_file()
    return process, ca


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_emulate_removes_its_test_ca_when_stopped(stop: signal.Signals) -> None:
    process, ca = _emulate_until_ready()
    process.send_signal(stop)
    assert process.wait(timeout=20) in (0, 130, 143)  # stopped, not killed
    assert not ca.exists() and not ca.parent.exists()


def test_emulate_keep_leaves_the_test_ca_for_the_next_run() -> None:
    process, ca = _emulate_until_ready("--keep")
    try:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        assert ca.is_file()
    finally:
        shutil.rmtree(ca.parent, ignore_errors=True)
