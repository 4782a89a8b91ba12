"""Running the product: mailbox status, sync workers, the web app, the SMTP dropbox."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated

import typer

from connector.app.cli.common import JsonOpt, TenantOpt, app, console, engine, fails_cleanly, session, settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from connector.config import Settings
    from connector.dropbox.server import DropboxServer


# --------------------------------------------------------------------------------------------- sync
@app.command("status")
@fails_cleanly
def status(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Every connected mailbox: state, last successful sync, last error, backlog."""
    import dataclasses

    from connector import render
    from connector.services import mailboxes, tenants

    with session() as db:
        firm = tenants.get_tenant(db, tenant) if tenant else None
        rows = mailboxes.all_health(db, firm.id if firm else None)
    if as_json:
        typer.echo(render.as_json([dataclasses.asdict(r) for r in rows]))
    else:
        render.mailboxes(console, rows)
    if any(r.status in ("failing", "needs_reconnect") for r in rows):
        raise typer.Exit(2)


@app.command("worker")
@fails_cleanly
def worker(once: Annotated[bool, typer.Option(help="One round, then exit.")] = False,
           probe_port: Annotated[int | None, typer.Option(help="Serve /healthz /readyz /metrics here "
                                                          "(default: sync.probe_port; 0: not at all).")] = None,
           ) -> None:
    """Claim due mailboxes under a lease and sync them (run as many as you like on PostgreSQL)."""
    from connector import logs
    from connector.app.assembly import assemble
    from connector.sync import probes

    logs.configure()
    assembly = assemble(settings())
    runner = assembly.worker()
    port = assembly.settings.sync.probe_port if probe_port is None else probe_port
    if port and not once:  # ready while the loop goes round (a step beats too; a slow one can take minutes)
        allowed = max(300.0, 2 * assembly.settings.sync.lease_seconds)
        probes.serve(assembly.engine, runner.heartbeat, "0.0.0.0", port, allowed)
        typer.echo(f"probes on http://0.0.0.0:{port}/healthz /readyz /metrics")
    if once:
        results = runner.run_once()
        typer.echo(f"{len(results)} step(s), {sum(r.logged for r in results)} message(s) logged")
        return
    typer.echo(f"worker {runner.owner} started; Ctrl-C to stop")
    stop = threading.Event()
    _stop_on_signals(stop)
    runner.run_forever(stop)
    typer.echo(f"worker {runner.owner} stopped; its mailboxes are released")


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM (an orchestrator) and SIGINT (Ctrl-C) let every thread finish its step and release its leases."""
    import signal

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())


@app.command("serve")
@fails_cleanly
def serve(host: str = "127.0.0.1", port: int = 8080,
          workers: Annotated[int, typer.Option(help="In-process sync workers.")] = 1) -> None:
    """The web app (webhooks, inbound-mail services, health, metrics) plus in-process workers, and the SMTP
    dropbox with its filers when smtp.enabled: the one-machine default."""
    import dataclasses
    import signal
    from types import FrameType

    import uvicorn

    from connector import logs
    from connector.app.assembly import assemble
    from connector.web.app import create_app
    from connector.web.codes import code_sender_for

    logs.configure()
    assembly = assemble(settings())
    stop = threading.Event()
    threads = [threading.Thread(target=assembly.worker().run_forever, args=(stop,), daemon=True)
               for _ in range(workers)]
    dropbox = _smtp_dropbox(assembly.engine, assembly.settings)
    for thread in threads:
        thread.start()
    context = dataclasses.replace(assembly.app_context(), code_sender=code_sender_for(assembly.settings))
    server = uvicorn.Server(uvicorn.Config(create_app(context), host=host, port=port, log_level="warning",
                                           log_config=None))

    def shut_down(number: int, frame: FrameType | None) -> None:
        stop.set()
        server.handle_exit(number, frame)

    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again with the handler it found.
    # That is this one: the workers and the dropbox are then stopped below instead of the process dying there,
    # and a signal that comes before uvicorn listens for its own still ends the server.
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, shut_down)
    typer.echo(f"serving on http://{host}:{port} with {workers} worker(s)")
    try:
        server.run()
    finally:
        stop.set()
        if dropbox is not None:
            dropbox.stop()  # the listener first (no new 250s), then the filers finish their rows
        for thread in threads:
            thread.join(timeout=assembly.settings.sync.lease_seconds)
    typer.echo("stopped")


def _smtp_dropbox(engine: Engine, config: Settings) -> DropboxServer | None:
    """The SMTP listener and its filers, started, when ``smtp.enabled``."""
    if not config.smtp.enabled:
        return None
    from connector.dropbox.server import DropboxServer

    dropbox = DropboxServer(engine, config)
    dropbox.start()
    assert dropbox.listener is not None
    typer.echo(f"smtp dropbox listening on {config.smtp.host}:{dropbox.listener.port} "
               f"with {len(dropbox.filers)} filer(s)")
    return dropbox


@app.command("smtp")
@fails_cleanly
def smtp(filing_only: Annotated[bool, typer.Option("--filing-only", help="Only file spooled mail.")] = False,
         once: Annotated[bool, typer.Option(help="File what is spooled now, then exit.")] = False,
         port: Annotated[int | None, typer.Option(help="Listen on this port instead of smtp.port (0: any).")] = None,
         ) -> None:
    """The dropbox's SMTP listener (the MX of the dropbox domain) and the filers of the mail it spools."""
    from connector import logs
    from connector.dropbox.server import run

    logs.configure()
    run(engine(), settings(), filing_only=filing_only, once=once, port=port, echo=typer.echo)
