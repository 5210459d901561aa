"""Probes on 2 nodes x 3 processes: six `parapet worker` OS processes (each node's under its own host name, via a
UTS namespace when the machine allows one) share one PostgreSQL store and one probe every 10 s against a local
HTTP server, which counts the requests: exactly one per slot, however many processes poll; each worker serves
its metrics (`--metrics-port`), and their probe counts add up to the jobs done.

By default the test watches 6 slots (60 s); ``PARAPET_PROBES_LONG=1`` watches 30 slots (the issue's 5 minutes).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families
from sqlalchemy import func, select

from parapet.evidence.db import create_engine_for
from parapet.evidence.schema import jobs, metadata, workers
from tests.alerts.harness import ROOT, Proc, free_port, wait_until
from tests.evidence.conftest import postgres_schema
from tests.probes.targets import target

EVERY = 10
SLOTS = 30 if os.environ.get("PARAPET_PROBES_LONG") == "1" else 6
NODES = ("node-a", "node-b")
PER_NODE = 3


def _uts_works() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    done = subprocess.run([unshare, "-u", "sh", "-c", "hostname node-x"], capture_output=True, timeout=10, check=False)
    return done.returncode == 0


@contextlib.contextmanager
def workers_on(nodes: tuple[str, ...], spec: Path, url: str, tmp: Path) -> Iterator[list[tuple[Proc, int]]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    uts = _uts_works()
    procs: list[tuple[Proc, int]] = []
    handles = []
    try:
        for node in nodes:
            for i in range(PER_NODE):
                port = free_port()
                cmd = [sys.executable, "-m", "parapet_cli", "worker", "--spec", str(spec), "--database-url", url]
                cmd += ["--metrics-port", str(port)]
                if uts:  # a host name of its own: the worker ids say which node ran what
                    cmd = ["unshare", "-u", "sh", "-c", f'hostname {node} && exec "$@"', "sh", *cmd]
                log = tmp / f"{node}-{i}.log"
                handle = log.open("wb")
                handles.append(handle)
                popen = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=tmp)
                procs.append((Proc(f"{node}-{i}", popen, log), port))
        yield procs
    finally:
        for proc, _port in procs:
            proc.stop()
        for handle in handles:
            handle.close()


def _runs(port: int) -> float:
    """The probe runs one worker's /metrics counts (OpenMetrics, as Prometheus scrapes it)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        text = answer.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "parapet_probe_duration_seconds"
        for sample in family.samples
        if sample.name.endswith("_count") and sample.labels.get("probe") == "ping"
    )


def test_each_slot_runs_once_across_two_nodes_of_three_processes(tmp_path: Path) -> None:
    with postgres_schema() as db, target() as (base, hits):
        engine = create_engine_for(db.url)
        metadata.create_all(engine)
        spec = tmp_path / "parapet.yaml"
        spec.write_text(
            "version: parapet/v1\nservice: shop\n"
            f"probes:\n  - name: ping\n    every: {EVERY}s\n    timeout: 3s\n    http: {{url: '{base}/ping'}}\n"
            "slos:\n  - name: ping\n    objective: 99\n    sli: {probe: {name: ping}}\n"
            "    alerting: {runbook_url: https://runbooks.example.com/ping}\n"
        )
        try:
            with workers_on(NODES, spec, db.url, tmp_path) as running:
                procs = [proc for proc, _port in running]

                def all_up() -> bool:
                    assert all(p.popen.poll() is None for p in procs), [p.text()[-2000:] for p in procs]
                    with engine.connect() as conn:
                        return int(conn.execute(select(func.count()).select_from(workers)).scalar_one()) >= len(procs)

                wait_until("six workers' heartbeats", all_up, timeout=120, every=0.5)
                first = (int(time.time()) // EVERY + 1) * EVERY  # the next slot boundary
                last = first + SLOTS * EVERY
                time.sleep(max(0.0, last - time.time()) + 4)  # the last slot's run, plus slack
                assert all(p.popen.poll() is None for p in procs), "a worker died"
                # every run is counted once, by the process that ran it: the six scrapes add up to the jobs done
                counted = sum(_runs(port) for _proc, port in running)
                with engine.connect() as conn:
                    finished = conn.execute(
                        select(func.count()).select_from(jobs).where(jobs.c.kind == "probe", jobs.c.state == "done")
                    ).scalar_one()
                assert counted == finished >= SLOTS, (counted, finished)
            window = [t for path, t in hits if path == "/ping" and first <= t < last]
            per_slot = Counter(int(t) // EVERY * EVERY for t in window)
            assert len(window) == SLOTS, (len(window), sorted(per_slot.items()))
            assert sorted(per_slot) == list(range(first, last, EVERY)) and set(per_slot.values()) == {1}
            with engine.connect() as conn:
                done = conn.execute(
                    select(jobs.c.key, jobs.c.state, jobs.c.lease_holder, jobs.c.result).where(jobs.c.kind == "probe")
                ).all()
            ran = {int(r.key.rsplit("@", 1)[1]): r for r in done if first <= int(r.key.rsplit("@", 1)[1]) < last}
            assert sorted(ran) == list(range(first, last, EVERY))
            assert all(r.state == "done" and r.result["outcome"] == "success" for r in ran.values()), ran
            holders = Counter(str(r.lease_holder).split(":")[0] for r in done if r.lease_holder)
            print(f"\n{SLOTS} slots, {len(window)} requests; runs per host: {dict(holders)}")
        finally:
            engine.dispose()
