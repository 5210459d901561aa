"""The hosts under real servers on loopback: gunicorn with two workers in multiprocess mode, and uvicorn."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric

from tests.metrics.hosts import host_dir
from tests.metrics.scrape import HTTP_FAMILIES, assert_contract, families, series, total

COUNT = "http_server_request_duration_seconds_count"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status), response.read().decode()


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"server exited with {process.returncode}:\n{out}")
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"server did not answer {url} within 30 s")


def _scrape_until(base: str, ready: Callable[[dict[str, Metric]], bool]) -> None:
    deadline = time.monotonic() + 5
    while True:
        found = families(_get(f"{base}/metrics")[1])
        if ready(found) or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"stale file of an earlier run")
    port = _free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    env.pop("METRICS_TOKEN", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--chdir",
            str(host_dir("flask_shop")),
            "-c",
            str(host_dir("flask_shop") / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "shop_flask:app",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base + "/pid", process)
        yield base, metrics_dir, process
    finally:
        _stop(process)


def test_gunicorn_two_workers_aggregate_in_multiprocess_mode(
    gunicorn: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    base, metrics_dir, _ = gunicorn
    assert not (metrics_dir / "counter_1.db").exists(), "on_starting empties the directory"
    pids: set[int] = set()
    sent = 0
    while len(pids) < 2 or sent < 40:
        assert sent < 2000, f"only workers {pids} answered"
        _, body = _get(f"{base}/pid")
        pids.add(json.loads(body)["pid"])
        assert _get(f"{base}/items/{sent}")[0] == 200
        sent += 1
    assert len(pids) == 2

    # every scrape aggregates both workers' files, whichever worker answers it. A worker records a request
    # just after the client has read the last byte, so the first scrape may be a few microseconds early.
    _scrape_until(base, lambda found: total(found, COUNT, http_route="/items/<int:item_id>") == sent)
    for _ in range(4):
        _, text = _get(f"{base}/metrics")
        found = families(text)
        assert_contract(found, HTTP_FAMILIES)
        assert total(found, COUNT, http_route="/items/<int:item_id>", http_response_status_code="200") == sent
        assert total(found, COUNT, http_route="/pid") == sent + 1  # and the readiness probe
        # this scrape, and perhaps the previous one whose worker has sent its body but not yet closed it
        assert 1 <= total(found, "http_server_active_requests", http_request_method="GET") <= 2
        assert all("pid" not in labels for labels in series(found, "http_server_active_requests"))

    _, om = _get(f"{base}/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.endswith("# EOF\n")
    assert "trace_id" not in om

    # a worker that dies loses its live gauge file (child_exit); its counts stay
    victim = min(pids)
    live = metrics_dir / f"gauge_livesum_{victim}.db"
    assert live.exists()
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while live.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not live.exists()
    _, text = _get(f"{base}/metrics")
    assert total(families(text), COUNT, http_route="/items/<int:item_id>") == sent


def test_uvicorn_serves_the_fastapi_host(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_MULTIPROC_DIR", "METRICS_TOKEN")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(host_dir("fastapi_shop")),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "shop_fastapi:app",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base + "/pid", process)
        for i in range(25):
            assert _get(f"{base}/items/{i}")[0] == 200
        for i in range(25):
            with pytest.raises(urllib.error.HTTPError) as caught:
                _get(f"{base}/wp-admin/{i}.php")
            assert caught.value.code == 404
            caught.value.close()
        _, body = _get(f"{base}/stream?chunks=2&pause=0.01")
        assert body == "chunk 0\nchunk 1\n"
        _, text = _get(f"{base}/metrics")
    finally:
        _stop(process)
    found = families(text)
    assert_contract(found, HTTP_FAMILIES)
    assert total(found, COUNT, http_route="/items/{item_id}") == 25
    assert total(found, COUNT, http_route="", http_response_status_code="404") == 25
    assert total(found, COUNT, http_route="/stream") == 1
    assert {s["http_route"] for s in series(found, COUNT)} == {"/items/{item_id}", "", "/pid", "/stream"}
