"""A host system's webhook receiver on loopback for the tests: records every POST (headers, body) and answers
with the statuses it is told, in order (then 200). Once given the endpoint's secret it verifies each POST as
docs/integration.md tells receivers to (its own `verify`) and answers 401 to one that fails; otherwise the
tests verify what it got. It listens on any loopback address, over TLS when given a certificate."""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[3] / "docs" / "integration.md"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in order; 200 once they run out
    received: list[Received] = field(default_factory=list)
    secret: str | None = None  # set: each POST is verified with the documented code, 401 when it fails
    verified: list[dict[str, Any]] = field(default_factory=list)  # the events that passed, in order
    port: int = 0


@contextmanager
def receiver(host: str = "127.0.0.1", port: int = 0, tls: tuple[Path, Path] | None = None) -> Iterator[Receiver]:
    """``tls``: (certificate chain, key) PEM files: serve https."""
    state = Receiver("")
    verify = documented_verify()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            got = Received({k.lower(): v for k, v in self.headers.items()}, body)
            state.received.append(got)
            if state.secret is not None:
                try:
                    state.verified.append(verify(state.secret, got.headers, body))
                except (KeyError, ValueError):
                    self.send_response(401)
                    self.end_headers()
                    return
            self.send_response(state.statuses.pop(0) if state.statuses else 200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    state.url = f"{'https' if tls else 'http'}://{host}:{state.port}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def documented_verify() -> Callable[..., dict[str, Any]]:
    """The `verify` function docs/integration.md gives receivers, exactly as printed there."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    [source] = [b for b in blocks if "def verify(" in b]
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # our own documentation, under test
    return namespace["verify"]  # type: ignore[no-any-return]
