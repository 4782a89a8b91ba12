"""`make demo` on a fresh directory: the buyer's first command runs to the end and says what it promised."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_the_demo_files_the_live_mail_and_speaks_the_buyers_language(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "emulators.demo"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "all 5 messages with a client on them logged" in out
    assert "unrelated mail logged: no" in out
    assert "Alice's forward to Bob alone: refused (internal_only)" in out
    assert (tmp_path / "var" / "demo" / "demo.db").exists()  # the database the closing command points at
    assert "bcc-capture log --contact carol@clientco.com" in out.splitlines()[-1]
    codes = re.findall(r"\bF\d{1,2}\b", out)
    assert not codes, f"internal feature codes shown to the user: {codes}"
