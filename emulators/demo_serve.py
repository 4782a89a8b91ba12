"""`make serve`: after the demo, the console, the emulators, the webhooks and a worker keep running until Ctrl-C.

``make serve KEEP=1`` (``python -m emulators.demo --serve --keep``) keeps the demo's database and the console's
port from the last run: the port is stored beside the database and taken again when it is free (another one
otherwise), so a browser tab left open on the console still works. Everything a person copies (the URL, the
sign-in names, a command) is printed on a line of its own, never wrapped.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from rich.console import Console
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connector.models import Tenant
from connector.web.server import free_port
from emulators import demo_live
from emulators.world import World

PROVIDER_NAMES = {"graph": "Microsoft", "gmail": "Google"}


def console_port(directory: Path, keep: bool) -> int:
    """The port of the last run when keeping and it is free, else any free one; stored for the next run."""
    stored = directory / "console-port"
    port = 0
    if keep and stored.is_file() and stored.read_text().strip().isdigit():
        port = int(stored.read_text().strip())
        if not _free(port):
            port = 0
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    stored.write_text(f"{port}\n")
    return port


def _free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a closed port is free
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def already_set_up(engine: Engine) -> bool:
    """The kept database holds the demo's company (then the demo's story is not told again)."""
    with Session(engine) as session:
        return session.exec(select(Tenant).where(Tenant.slug == "acme")).first() is not None


def serve_kept(engine: Engine, port: int, console: Console) -> None:
    """The kept database served again: the emulators are new, so everyone connects once more through consent."""
    with demo_live.live_world(engine.url.render_as_string(hide_password=False), port=port) as world:
        demo_live.connect_everyone(world, console)
        serve_forever(world, console)


def serve_forever(world: World, console: Console) -> None:
    world.sandbox.graph.set_consent("page")  # from now on a person clicks through the consent screens
    world.sandbox.gmail.set_consent("interactive")
    console.print()
    for line in sign_in_lines(world.public_url, str(world.sandbox.graph_urls.ca_path)):
        print(line, flush=True)  # print, not rich: a long line must stay one line to be copied
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        console.print("stopped")


def sign_in_lines(public_url: str, ca_path: str) -> list[str]:
    lines = ["Console (Ctrl-C to stop):", f"  {public_url}/signin"]
    for provider, name in PROVIDER_NAMES.items():
        lines.append(f"Sign in with {name} as:")
        lines += [f"  {address}" for address, _, used in demo_live.PEOPLE if used == provider]
    return [*lines, "The emulated sign-in pages use a throwaway TLS certificate (your browser warns once); its CA:",
            f"  {ca_path}", "Next time, keep this database and port:", "  make serve KEEP=1"]
