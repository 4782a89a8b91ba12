"""`bcc-capture worker` processes on a world's settings: separate processes, so `kill -9` is real and
CPU and memory can be measured per worker. Each logs to ``<log_dir>/worker-<n>.log``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class WorkerProcesses:
    env: Mapping[str, str]  # BCC_CAPTURE_* variables (Sandbox.environment), over this process's own
    log_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def log(self, index: int) -> Path:
        return self.log_dir / f"worker-{index}.log"

    def start(self, extra_env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, **(extra_env or {})}
        with self.log(len(self.processes)).open("wb") as log:  # the child keeps its own descriptor
            process = subprocess.Popen([sys.executable, "-m", "connector.app.cli", "worker"], env=env,
                                       stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.processes if p.poll() is None]

    def wait_started(self, count: int, timeout: float = 60) -> float:
        """Seconds until the first ``count`` workers logged their start line (imports and assembly done)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            logs = [self.log(index) for index in range(count)]
            if all(log.exists() and b" started" in log.read_bytes() for log in logs):
                return time.monotonic() - started
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"a worker process exited; see {self.log_dir}")
            time.sleep(0.1)
        raise TimeoutError("worker processes did not start")

    def stop(self) -> None:
        """Terminate every worker (killed if it takes over 10 s) and forget them."""
        for process in self.live():
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
