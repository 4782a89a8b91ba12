"""Subscriptions faked away and CPU accounting for the multi-process benchmarks (Linux /proc)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from bench.rig import Rig, utcnow
from connector.db import transaction
from connector.models import Mailbox

TICKS = os.sysconf("SC_CLK_TCK")


def fake_subscriptions(rig: Rig, days: int = 6) -> None:
    """Mark every mailbox as subscribed for days, so workers spend nothing on renewals."""
    with transaction(rig.engine) as session:
        session.exec(update(Mailbox).where(col(Mailbox.subscription_id).is_(None)).values(  # type: ignore[call-overload]
            subscription_id="bench-" + Mailbox.address, subscription_expires_at=utcnow() + timedelta(days=days)))


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


@dataclass
class MachineCpu:
    """Whole-machine CPU use between two readings of /proc/stat, and this process's own."""

    busy: float = 0.0
    total: float = 0.0
    own: float = 0.0

    @staticmethod
    def _read() -> tuple[float, float]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + values[4]
        return (sum(values) - idle) / TICKS, sum(values) / TICKS

    def start(self) -> MachineCpu:
        self.busy, self.total = self._read()
        self.own = time.process_time()
        return self

    def stop(self) -> dict[str, Any]:
        busy, total = self._read()
        cores = os.cpu_count() or 1
        return {"machine_busy_share": round((busy - self.busy) / max(total - self.total, 1e-9), 3),
                "machine_cpu_seconds": round(busy - self.busy, 1), "cores": cores,
                "bench_process_cpu_seconds": round(time.process_time() - self.own, 1)}
