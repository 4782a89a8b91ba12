"""`make bench` / `python -m bench [--quick]`: every benchmark in turn, then docs/performance.md."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from bench import api_economy, archive, console, latency, report, routing, scale, smtp, workers

BENCHMARKS: list[tuple[str, Callable[[Sequence[str] | None], Any]]] = [
    ("api_economy", api_economy.main), ("routing", routing.main), ("latency", latency.main),
    ("scale", scale.main), ("workers", workers.main), ("smtp", smtp.main), ("archive", archive.main),
    ("console", console.main)]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    only = [a for a in args if not a.startswith("-")]
    flags = [a for a in args if a.startswith("-")]
    failed = []
    for name, run in BENCHMARKS:
        if only and name not in only:
            continue
        print(f"\n===== bench.{name} {' '.join(flags)} =====", flush=True)
        started = time.monotonic()
        try:
            run(flags)
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
        print(f"===== bench.{name}: {time.monotonic() - started:.0f} s =====", flush=True)
    if "--no-write" not in flags:
        report.main([])
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
