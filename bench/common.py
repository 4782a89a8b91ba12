"""What every benchmark shares: the command line, machine facts, result files, tables, databases."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PG_ADMIN = os.environ.get("BCC_CAPTURE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def parse_args(name: str, description: str, argv: Sequence[str] | None = None,
               extra: Sequence[tuple[str, dict[str, Any]]] = ()) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=description)
    parser.add_argument("--quick", action="store_true", help="a small run, to check the benchmark works")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results alone")
    for flag, options in extra:
        parser.add_argument(flag, **options)
    return parser.parse_args(argv)


def command_line(name: str, args: argparse.Namespace) -> str:
    return ".venv/bin/python -m bench." + name + (" --quick" if args.quick else "")


def git_revision() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "connector", "providers"], cwd=ROOT,
                               capture_output=True, text=True, check=True)
        return head.stdout.strip() + ("+uncommitted-product-changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def postgres_version() -> str:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return f"PostgreSQL {row[0]}" if row else "PostgreSQL ?"
    except Exception as exc:  # the benchmark still runs on SQLite
        return f"unavailable ({type(exc).__name__})"


def machine_facts() -> dict[str, Any]:
    import sqlite3

    import sqlalchemy

    return {
        "cpu_count": os.cpu_count(), "cpu_model": cpu_model(), "python": sys.version.split()[0],
        "platform": platform.platform(), "sqlite": sqlite3.sqlite_version, "postgresql": postgres_version(),
        "sqlalchemy": sqlalchemy.__version__, "memory_gib": _memory_gib(),
    }


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


class Run:
    """One benchmark run: timing, load before/after, and the JSON result file."""

    def __init__(self, name: str, args: argparse.Namespace) -> None:
        self.name = name
        self.args = args
        self.started = time.monotonic()
        self.load_before = load_average()
        self.notes: list[str] = []

    def save(self, figures: dict[str, Any], targets: list[dict[str, Any]]) -> Path | None:
        result = {
            "benchmark": self.name, "command": command_line(self.name, self.args), "quick": bool(self.args.quick),
            "git_revision": git_revision(), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "duration_seconds": round(time.monotonic() - self.started, 1),
            "load_average_before": self.load_before, "load_average_after": load_average(),
            "machine": machine_facts(), "targets": targets, "figures": figures, "notes": self.notes,
        }
        print(f"\n{self.name}: {result['duration_seconds']} s; load average before {self.load_before}, "
              f"after {result['load_average_after']} (1/5/15 min, {os.cpu_count()} cores)")
        if self.args.no_write:
            return None
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}{'-quick' if self.args.quick else ''}.json"
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")
        return path


def target(name: str, value: float | int | str | None, goal: str, met: bool | None, unit: str = "") -> dict[str, Any]:
    return {"target": name, "value": value, "goal": goal, "met": met, "unit": unit}


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(headers)]
    lines = [title] if title else []
    lines.append("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths, strict=True))
              for r in cells]
    text = "\n".join(lines)
    print(text)
    return text


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "", 1).replace("-", "", 1).replace("×", "").isdigit()


# ------------------------------------------------------------------------------------------ databases
def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except Exception:
        return False


@contextmanager
def postgres_database(prefix: str = "bcc_bench") -> Iterator[str]:
    """A throwaway PostgreSQL database on 127.0.0.1 (SQLAlchemy URL), dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sqlite_database(tag: str) -> Iterator[str]:
    folder = ROOT / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{tag}-{uuid.uuid4().hex[:8]}.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def database(backend: str, tag: str) -> Iterator[str]:
    if backend == "postgresql":
        with postgres_database(f"bcc_bench_{tag}") as url:
            yield url
    else:
        with sqlite_database(tag) as url:
            yield url


def shell_quote(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
