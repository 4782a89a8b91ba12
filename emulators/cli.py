"""`bcc-capture emulate`: the provider emulators on loopback, for integrators without a Microsoft or Google account.

The command is contributed to the product's CLI through the ``bcc_capture.commands`` entry point of the
``bcc-capture-emulators`` distribution, so the product itself never imports the emulators.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from connector.errors import InputError


def emulate(which: Annotated[str, typer.Argument(help="graph | gmail | all")] = "all",
            user: Annotated[list[str] | None, typer.Option(help="Mailbox to create (graph:a@x.com or gmail:b@y.com)")]
            = None,
            public_url: Annotated[str, typer.Option(help="Where the connector's webhooks will listen")]
            = "http://127.0.0.1:8080",
            keep: Annotated[bool, typer.Option("--keep", help="Leave the test CA's directory behind on exit")]
            = False) -> None:
    """Run the Microsoft Graph and/or Gmail emulators on loopback (one shared post office) until Ctrl-C.

    Prints their base URLs, the path of the test CA, and the settings that point bcc-capture at them.
    The test CA's directory is removed on exit (Ctrl-C or SIGTERM) unless --keep.
    """
    from emulators.tls import exit_on_sigterm, keep_shared_test_pki
    from emulators.world import callbacks, describe, running

    if which not in ("graph", "gmail", "all"):
        raise InputError(f"emulate what? graph, gmail or all (not {which!r})")
    exit_on_sigterm()
    if keep:
        keep_shared_test_pki()
    with running(callbacks(public_url), consent="page") as sandbox:
        for entry in user or []:
            provider, _, address = entry.partition(":")
            if provider not in ("graph", "gmail") or "@" not in address:
                raise InputError(f"--user takes graph:ADDRESS or gmail:ADDRESS, not {entry!r}")
            sandbox.add_user(address, address.split("@")[0].title(), provider)
        sandbox.push_to(public_url)
        for label, value in describe(sandbox):
            if which == "all" or which in label.lower().replace("microsoft", "graph").replace("google", "gmail"):
                typer.echo(f"{label:<20} {value}")
        typer.echo("\nSettings for bcc-capture (environment):")
        for key, value in sorted(sandbox.environment(public_url).items()):
            if which == "all" or f"_{which.upper()}__" in key or not key.startswith("BCC_CAPTURE_G"):
                typer.echo(f"  export {key}={value}")
        typer.echo("\nCtrl-C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            typer.echo("stopped")
