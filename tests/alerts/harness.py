"""Real processes on loopback for the intake tests: Alertmanager, Prometheus, `parapet serve`, and a private
PostgreSQL cluster (initdb/pg_ctl in a temp dir, its own port: the shared server is never stopped).

Every process writes its output to a log file in the test's temp dir, is bounded in time, and is stopped
(its own pid, never by name) when the test ends.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def binary(*names: str) -> str:
    """The first of these programs on PATH; CI (CI=true) fails without it, elsewhere the test skips."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    message = f"{names[0]} is not installed"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 5) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bool(response.status == 200)


def wait_until(what: str, check: Callable[[], Any], timeout: float = 30, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


@contextlib.contextmanager
def started(
    name: str,
    args: list[str],
    log: Path,
    ready: Callable[[], Any],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 30,
) -> Iterator[Proc]:
    handle = log.open("wb")
    popen = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, cwd=cwd, env=env)
    proc = Proc(name, popen, log)
    try:
        try:
            wait_until(f"{name} to start", lambda: popen.poll() is None and ready(), timeout=timeout)
        except AssertionError:
            raise AssertionError(f"{name} did not start:\n{proc.text()[-3000:]}") from None
        yield proc
    finally:
        proc.stop()
        handle.close()


@contextlib.contextmanager
def alertmanager(tmp: Path, config: Path, name: str = "alertmanager") -> Iterator[tuple[str, Proc]]:
    exe = binary("prometheus-alertmanager", "alertmanager")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp / f"{name}-data"
    data.mkdir(exist_ok=True)
    args = [
        exe,
        f"--config.file={config}",
        f"--storage.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=debug",
    ]
    with started(name, args, tmp / f"{name}.log", lambda: ok(f"{url}/-/ready")) as proc:
        yield url, proc


@contextlib.contextmanager
def prometheus(tmp: Path, config: Path) -> Iterator[tuple[str, Proc]]:
    exe = binary("prometheus")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        exe,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--rules.alert.resend-delay=1s",
    ]
    with started("prometheus", args, tmp / "prometheus.log", lambda: ok(f"{url}/-/ready")) as proc:
        yield url, proc


@contextlib.contextmanager
def parapet_serve(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, Proc]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "parapet_cli", "serve", "--port", str(port), "--log-level", "info", *args]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    with started(
        "parapet serve", cmd, cwd / "serve.log", lambda: ok(f"{url}/parapet/healthz"), cwd=cwd, env=full_env
    ) as proc:
        yield url, proc


def post_alerts(am_url: str, alerts: list[dict[str, Any]]) -> None:
    http("POST", f"{am_url}/api/v2/alerts", alerts)


def am_alert(name: str, starts: datetime, *, ends: datetime | None = None, **labels: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} fires"},
        "startsAt": starts.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    if ends is not None:
        body["endsAt"] = ends.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return body


# -- a private PostgreSQL cluster ---------------------------------------------------------------------


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} (PostgreSQL server binaries) is not installed", pytrace=False)
        pytest.skip(f"{name} is not installed")
    return found


@dataclass
class PrivatePostgres:
    """A throwaway cluster; ``stop()`` and ``start()`` it at will (as root, it runs as the postgres user)."""

    data: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr

    def start(self) -> None:
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    # Outside pytest's temp tree: that one is private to root (0700), and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="parapet-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    pg = PrivatePostgres(base / "data", free_port(), base / "server.log")
    try:
        pg._run(_pg_bin("initdb"), "-D", str(pg.data), "-U", "postgres", "-A", "trust", "--no-sync")
        pg.start()
        try:
            yield pg
        finally:
            with contextlib.suppress(AssertionError):
                pg.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
