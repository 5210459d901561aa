"""Webhook intake under load: a real `parapet serve` (uvicorn) on loopback, Alertmanager-shaped deliveries over
HTTP keep-alive connections, one thread per sender.

    python benchmarks/intake.py                       # all three scenarios
    python benchmarks/intake.py --deliveries 500 --only sqlite

Scenarios (each on a fresh store):
    sqlite, 1 sender       N deliveries of 10 alerts
    postgresql, 4 senders  N deliveries of 10 alerts (a private schema on the local server, dropped at the end)
    storm                  5,000 distinct alerts in 250 deliveries of 20, sent by 4 senders at once, on SQLite
                           and on PostgreSQL: the time until the last is committed, and every non-2xx answer

The 10-alert workload cycles through every path of the intake: 100 groups of 10 alerts; rounds of the groups
fire (new incidents), repeat (occurrence_count only), resolve (incidents resolve as system:alertmanager),
then re-fire with a new startsAt (new incidents linked to the old). Targets on 2 cores: >= 150 deliveries/s,
p99 <= 150 ms, the storm absorbed in 30 s with no non-2xx.

Besides wall-clock figures (which a busy machine inflates), the table gives the server process's own CPU time
per delivery (from /proc: user + system) and the load average around the run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from parapet.alerts.fingerprint import fingerprint  # noqa: E402
from parapet.evidence.db import create_engine_for  # noqa: E402
from parapet.evidence.schema import metadata  # noqa: E402

GROUPS = 100
BASE = datetime(2026, 12, 1, tzinfo=UTC)


def _time(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def cycle_delivery(i: int) -> bytes:
    """Delivery i of the 10-alert workload (see the module docstring)."""
    group, rnd = i % GROUPS, i // GROUPS
    phase, generation = rnd % 4, rnd // 4  # 0 fire, 1 repeat, 2 repeat, 3 resolve; then a re-fire
    starts = BASE + timedelta(hours=generation)
    resolved = phase == 3
    alerts = [
        {
            "status": "resolved" if resolved else "firing",
            "labels": {
                "alertname": f"Bench{group}",
                "cluster": "eu",
                "instance": f"host-{k}:9100",
                "severity": "critical" if k == 0 else "warning",
            },
            "annotations": {"summary": f"group {group} instance {k}"},
            "startsAt": _time(starts),
            "endsAt": _time(starts + timedelta(minutes=30)) if resolved else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
        }
        for k in range(10)
    ]
    for a in alerts:  # Alertmanager always sends the fingerprint
        a["fingerprint"] = fingerprint(a["labels"])
    return _payload(f"Bench{group}", alerts)


def storm_delivery(i: int) -> bytes:
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": "NodeDown",
                "cluster": f"c{i % 5}",
                "instance": f"node-{i}-{k}:9100",
                "severity": "critical",
            },
            "annotations": {"summary": "node down"},
            "startsAt": _time(BASE),
            "endsAt": "0001-01-01T00:00:00Z",
        }
        for k in range(20)
    ]
    for a in alerts:
        a["fingerprint"] = fingerprint(a["labels"])
    return _payload("NodeDown", alerts, cluster=f"c{i % 5}")


def _payload(name: str, alerts: list[dict[str, Any]], **group: str) -> bytes:
    firing = any(a["status"] == "firing" for a in alerts)
    return json.dumps(
        {
            "version": "4",
            "receiver": "parapet-bench",
            "status": "firing" if firing else "resolved",
            "groupKey": f"{{}}:{{alertname={name!r}}}",
            "groupLabels": {"alertname": name, **group},
            "commonLabels": {"alertname": name},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "truncatedAlerts": 0,
            "alerts": alerts,
        }
    ).encode()


@contextmanager
def serve(url: str, workdir: Path) -> Iterator[tuple[int, str, int]]:
    token = secrets.token_urlsafe(16)
    token_file = workdir / "token"
    token_file.write_text(token + "\n")
    port = _free_port()
    log = (workdir / "serve.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "parapet_cli",
            "serve",
            "--port",
            str(port),
            "--database-url",
            url,
            "--webhook-token-file",
            str(token_file),
            "--log-level",
            "warning",
            "--no-worker",
        ],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/parapet/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"parapet serve did not start: {(workdir / 'serve.log').read_text()[-2000:]}")
        yield port, token, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): what the server spent, whatever the machine's load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def send(port: int, token: str, bodies: list[bytes], senders: int) -> tuple[float, list[float], dict[int, int]]:
    """Send the bodies from ``senders`` threads (body i by thread i % senders, in order); latencies in ms."""
    latencies: list[float] = []
    codes: dict[int, int] = {}
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def run(share: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        seen: dict[int, int] = {}
        for body in share:
            t0 = time.perf_counter()
            conn.request("POST", "/parapet/webhook", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - t0) * 1000)
            seen[response.status] = seen.get(response.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, n in seen.items():
                codes[code] = codes.get(code, 0) + n

    shares = [bodies[k::senders] for k in range(senders)]
    threads = [threading.Thread(target=run, args=(share,)) for share in shares]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, codes


@contextmanager
def sqlite_store(workdir: Path) -> Iterator[str]:
    url = f"sqlite:///{workdir / 'bench.db'}"
    engine = create_engine_for(url)
    metadata.create_all(engine)
    engine.dispose()
    yield url


@contextmanager
def postgres_store(base: str) -> Iterator[str]:
    schema = f"parapet_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}?options={quote(f'-csearch_path={schema}')}"
    try:
        engine = create_engine_for(url)
        metadata.create_all(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def row(name: str, elapsed: float, latencies: list[float], codes: dict[int, int], alerts: int, cpu: float) -> str:
    n = len(latencies)
    ordered = sorted(latencies)
    p99 = ordered[min(n - 1, int(n * 0.99))]
    bad = sum(v for k, v in codes.items() if not 200 <= k < 300)
    return (
        f"{name:<36} {n:>6} {alerts:>7} {elapsed:>8.2f} {n / elapsed:>8.1f} "
        f"{statistics.median(ordered):>7.1f} {p99:>7.1f} {bad:>7} {cpu / n * 1000:>10.2f}"
    )


def run(name: str, url: str, workdir: Path, bodies: list[bytes], senders: int, alerts: int) -> None:
    workdir.mkdir(exist_ok=True)
    with serve(url, workdir) as (port, token, pid):
        cpu = cpu_seconds(pid)
        elapsed, latencies, codes = send(port, token, bodies, senders)
        cpu = cpu_seconds(pid) - cpu
    print(row(name, elapsed, latencies, codes, alerts, cpu), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=2000, help="10-alert deliveries per scenario")
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    args = parser.parse_args()
    cycle = [cycle_delivery(i) for i in range(args.deliveries)]
    storm = [storm_delivery(i) for i in range(250)]
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"{'scenario':<36} {'sent':>6} {'alerts':>7} {'seconds':>8} {'deliv/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'non-2xx':>7} {'srv cpu ms':>10}"
    )
    for backend in [b for b in ("sqlite", "postgresql") if args.only in (None, b)]:
        senders = 1 if backend == "sqlite" else 4
        label = f"{backend}, {senders} sender{'s' if senders > 1 else ''}, 10 alerts each"
        with tempfile.TemporaryDirectory() as tmp:
            for name, bodies, count, alerts in (
                (label, cycle, senders, 10 * len(cycle)),
                (f"{backend} storm, 4 senders, 20 each", storm, 4, 20 * len(storm)),
            ):
                workdir = Path(tmp) / uuid.uuid4().hex[:6]
                workdir.mkdir()
                store = sqlite_store(workdir) if backend == "sqlite" else postgres_store(args.postgres_url)
                with store as url:
                    run(name, url, workdir, bodies, count, alerts)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
