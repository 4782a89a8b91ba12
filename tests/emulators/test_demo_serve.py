"""`make serve KEEP=1`: the console comes back on the port of the last run when it is free, and what a person
copies from the output (the URL, each sign-in name, the command) stands on a line of its own."""

from __future__ import annotations

import socket
from pathlib import Path

from emulators.demo_serve import console_port, sign_in_lines


def test_a_kept_console_port_is_taken_again_unless_busy(tmp_path: Path) -> None:
    first = console_port(tmp_path, keep=False)
    assert console_port(tmp_path, keep=True) == first
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", first))
        busy.listen()
        other = console_port(tmp_path, keep=True)
    assert other != first
    assert console_port(tmp_path, keep=True) == other  # the fallback is the port kept from now on


def test_the_url_and_each_sign_in_name_stand_on_their_own_lines() -> None:
    lines = [line.strip() for line in sign_in_lines("http://127.0.0.1:8123", "/tmp/ca.pem")]
    assert "http://127.0.0.1:8123/signin" in lines
    microsoft, google = lines.index("Sign in with Microsoft as:"), lines.index("Sign in with Google as:")
    assert lines[microsoft + 1:google] == ["alice@acme-law.com", "bob@acme-law.com"]
    assert lines[google + 1] == "grace@acme-law.com"
    assert "make serve KEEP=1" in lines and "/tmp/ca.pem" in lines
