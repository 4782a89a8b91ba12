"""CLI start-up: each command group run as a fresh process against a small company's database.

Every command is started ``--repeats`` times (`python -m connector.app.cli …`, as a shell starts it) and its
wall time and CPU time (user + system of the child) printed, median and best, after one run that is not counted
(it fills the bytecode cache, as installing the product does). CPU time is the steadier figure
on a shared machine: waiting for a core counts in the wall time only. Goal: under 0.5 s wall each. The last row,
"libraries alone", is no command: Python importing what every database command needs before any of its code.

    .venv/bin/python -m bench.cli [--quick] [--repeats N] [--source DIR] [--json]

``--source DIR`` runs the commands from another checkout of the product (e.g. ``git archive`` of an older
revision) with this checkout's interpreter and database: a before/after comparison on the same machine.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import ROOT, Run, database, parse_args, table, target

GOAL_S = 0.5
SEED = ("import sys; from connector.db import make_engine, upgrade; from bench.console import seed; "
        "engine = make_engine(sys.argv[1]); upgrade(engine); seed(engine, 400); engine.dispose()")
CAROL = "carol@clientco.com"
# one command per group (and the help pages), each reading the seeded company
COMMANDS: list[tuple[str, list[str]]] = [
    ("--help", ["--help"]),
    ("record list", ["record", "list"]),
    ("log --contact", ["log", "--contact", CAROL]),
    ("log --matter", ["log", "--matter", "10000"]),
    ("unassigned", ["unassigned"]),
    ("audit", ["audit"]),
    ("audit verify", ["audit", "verify"]),
    ("status", ["status"]),
    ("quarantine list", ["quarantine", "list", "--as", "ada@acme-law.com"]),
    ("user address show", ["user", "address", "show", "ada@acme-law.com"]),
    ("serve --help", ["serve", "--help"]),
    ("sync --help", ["sync", "--help"]),
    ("import --help", ["import", "--help"]),
    ("emulate --help", ["emulate", "--help"]),
]


# The floor under every database command: the interpreter importing the libraries such a command cannot do
# without (the CLI framework, settings, the ORM and the models' base), and none of the product's own code.
FLOOR = ("libraries alone", ["-c", "import typer, rich.console, yaml, pydantic_settings, sqlalchemy.orm, sqlmodel"])


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and exit status of one run of the command (``-c …``: that Python instead)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    command = argv if argv[0] == "-c" else ["-m", "connector.app.cli", *argv]
    done = subprocess.run([sys.executable, *command], env=env, cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def measure(url: str, repeats: int, source: Path, bytecode: Path) -> list[dict[str, Any]]:
    # Timed as an installed product runs: from compiled bytecode (pip compiles on install). A shell that sets
    # PYTHONDONTWRITEBYTECODE would have every command compile the product's modules again, 0.05 s each time
    # here; the cache goes to a directory of the run's own, never into the checkout.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {
        "BCC_CAPTURE_DATABASE__URL": url, "PYTHONPATH": str(source), "PYTHONPYCACHEPREFIX": str(bytecode)}
    rows = []
    for label, argv in [*COMMANDS, FLOOR]:
        timed(argv, env, source)  # fills the bytecode cache, not counted
        runs = [timed(argv, env, source) for _ in range(repeats)]
        walls, cpus = sorted(r[0] for r in runs), sorted(r[1] for r in runs)
        rows.append({"command": label, "wall_median_s": round(statistics.median(walls), 3),
                     "wall_best_s": round(walls[0], 3), "cpu_median_s": round(statistics.median(cpus), 3),
                     "exit_status": runs[-1][2]})
    return rows


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args("cli", __doc__.splitlines()[0], argv, extra=[
        ("--repeats", {"type": int, "default": None}),
        ("--source", {"type": Path, "default": ROOT, "help": "the checkout whose commands are timed"}),
        ("--json", {"action": "store_true", "help": "print the figures as JSON on stdout"})])
    run = Run("cli", args)
    source = args.source.resolve()
    with database("sqlite", "cli") as url, tempfile.TemporaryDirectory(prefix="bench-cli-pyc-") as bytecode:
        # the checkout's own migrations and services make the database its commands expect
        subprocess.run([sys.executable, "-c", SEED, url], cwd=source, env={**os.environ, "PYTHONPATH": str(source)},
                       check=True)
        rows = measure(url, args.repeats or (3 if args.quick else 9), source, Path(bytecode))
    table(["command", "wall median s", "wall best s", "CPU median s", "exit"],
          [(r["command"], r["wall_median_s"], r["wall_best_s"], r["cpu_median_s"], r["exit_status"]) for r in rows],
          title=f"CLI start-up ({args.source})")
    worst = max(r["wall_median_s"] for r in rows if r["command"] != FLOOR[0])
    figures = {"source": str(args.source), "commands": rows}
    run.save(figures, [target("slowest command, median wall", worst, f"< {GOAL_S} s", worst < GOAL_S, "s")])
    if args.json:
        print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
