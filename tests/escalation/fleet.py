"""Worker processes for the escalation tests and benchmark (``tests.escalation.proc``), grouped by node."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Fleet:
    url: str
    logs: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    counts: dict[str, Path] = field(default_factory=dict)

    def start(self, node: str, n: int, *, count: bool = False, wait: bool = True) -> str:
        worker_id = f"{node}:{n}:{len(self.procs)}"
        log = self.logs / f"{worker_id.replace(':', '-')}.log"
        args = [sys.executable, "-m", "tests.escalation.proc", self.url, worker_id, node]
        if count:
            self.counts[worker_id] = self.logs / f"{worker_id.replace(':', '-')}.json"
            args.append(str(self.counts[worker_id]))
        with log.open("w") as err:
            proc = subprocess.Popen(
                args,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
                text=True,
                env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", **self.env},
            )
        self.procs[worker_id] = proc
        if wait:
            self.ready([worker_id])
        return worker_id

    def ready(self, worker_ids: list[str]) -> None:
        """Wait until each process said it is polling."""
        deadline = time.monotonic() + 60
        for worker_id in worker_ids:
            proc, log = self.procs[worker_id], self.logs / f"{worker_id.replace(':', '-')}.log"
            while not log.read_text().startswith("ready"):
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)

    def kill(self, worker_id: str) -> None:
        proc = self.procs.pop(worker_id)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@contextmanager
def fleet(url: str, logs: Path, nodes: dict[str, int], **options: object) -> Iterator[Fleet]:
    f = Fleet(url, logs, env={k: str(v) for k, v in options.items()})
    try:
        f.ready([f.start(node, n, wait=False) for node, count in nodes.items() for n in range(count)])
        yield f
    finally:
        f.stop()
