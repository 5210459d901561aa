"""Rule evaluation cost on a real Prometheus: Parapet's SLO rules beside Sloth's, for the same SLOs.

    python benchmarks/rule_eval.py [--slos 100] [--days 3] [--cycles 6] [--interval 20s]

One command, one table. It
1. writes ``--days`` of request counters for ``--slos`` services (``http_request_duration_seconds_count``
   by ``code``, 30s samples, a daily traffic wave and a trickle of 5xx/429) as OpenMetrics, plus the
   history of each rule set's 5m series (one sample a minute, as the rules themselves would have
   recorded it) so that the long windows read days of recorded data as they would in steady state;
2. backfills it with ``promtool tsdb create-blocks-from openmetrics`` into a TSDB, and serves the same
   counters live on a loopback port from then on (Prometheus scrapes them every 30s);
3. for Parapet (``parapet gen slo`` of one 99.9% availability SLO per service, the shape of Sloth's
   getting-started example) and for Sloth (its published output for that example,
   ``benchmarks/data/sloth-getting-started.rules.yml``, templated per service), one after the other:
   starts ``prometheus`` on a copy of the TSDB on a free loopback port, with that rule file only and
   every group at ``--interval``, lets ``--cycles`` evaluation cycles run after a warm-up cycle, reads
   ``prometheus_rule_group_last_duration_seconds`` from its /metrics, summed over the groups, after each
   cycle (the seconds one evaluation of every SLO takes), counts the recorded series and reads the
   process' memory, then stops it.

Columns: seconds per evaluation cycle (median over the cycles, and the worst: wall time, which a busy
machine inflates), the CPU seconds the whole Prometheus process spent per cycle (rules, the scrape of
the live counters and the TSDB: the scrape and TSDB share is the same for both), recorded series per
SLO, samples written per SLO and cycle, resident memory at the end and its peak, rules per SLO.
"""

from __future__ import annotations

import argparse
import math
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from parapet.spec import load_spec
from parapet_cli.generators.slo_rules import generate

HERE = Path(__file__).resolve().parent
SLOTH = HERE / "data" / "sloth-getting-started.rules.yml"
SAMPLE = 30  # seconds between raw samples
METRIC = "http_request_duration_seconds_count"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service(i: int) -> str:
    return f"svc-{i:03d}"


# ------------------------------------------------------------------------------------------ rules


def parapet_rules(slos: int, work: Path) -> str:
    spec = work / "parapet.yaml"
    lines = [
        "version: parapet/v1",
        "service: bench",
        "alerting:",
        "  runbook_url: https://runbooks.example/{slo}",
        "slos:",
    ]
    for i in range(slos):
        job = service(i)
        lines += [
            f"  - name: {job}",
            "    objective: 99.9",
            "    sli:",
            "      events:",
            f'        error_query: sum(rate({METRIC}{{job="{job}",code=~"(5..|429)"}}[{{{{window}}}}]))',
            f'        total_query: sum(rate({METRIC}{{job="{job}"}}[{{{{window}}}}]))',
        ]
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    planned = [f for f in generate(load_spec(spec), "parapet.yaml") if f.path.endswith(".rules.yml")]
    return planned[0].content.decode()


def sloth_rules(slos: int) -> str:
    template = SLOTH.read_text(encoding="utf-8")
    document: dict[str, Any] = {"groups": []}
    for i in range(slos):
        document["groups"] += yaml.safe_load(template.replace("myservice", service(i)))["groups"]
    return yaml.safe_dump(document, sort_keys=False)


def with_interval(text: str, interval: str) -> str:
    document = yaml.safe_load(text)
    for group in document["groups"]:
        group["interval"] = interval
    return yaml.safe_dump(document, sort_keys=False)


def record_names(text: str) -> set[str]:
    return {r["record"] for g in yaml.safe_load(text)["groups"] for r in g["rules"] if "record" in r}


def rules_per_slo(text: str, slos: int) -> float:
    return sum(len(g["rules"]) for g in yaml.safe_load(text)["groups"]) / slos


# ------------------------------------------------------------------------------------------- data


SHARES = {"200": 0.9993, "500": 0.0005, "429": 0.0002}
INSTANCE = "bench"


@dataclass(frozen=True)
class Traffic:
    """Requests per second of one service: a daily wave; 0.05% 5xx and 0.02% 429."""

    base: float
    phase: float
    start: int

    def total(self, t: float) -> float:
        return self.base * (1 + 0.6 * math.sin(2 * math.pi * t / 86400 + self.phase))

    def count(self, t: float, share: float) -> float:
        """Requests since ``start`` (the counter's value at t): the integral of ``total``."""
        k = 2 * math.pi / 86400
        wave = 0.6 / k * (math.cos(k * self.start + self.phase) - math.cos(k * t + self.phase))
        return share * self.base * ((t - self.start) + wave)


def traffic(i: int, slos: int, start: int) -> Traffic:
    return Traffic(base=5 + (i % 10) * 3, phase=i / slos * 2 * math.pi, start=start)


def counter_line(job: str, code: str, value: float) -> str:
    return f'{METRIC}{{code="{code}",instance="{INSTANCE}",job="{job}"}} {value:.3f}'


def openmetrics(path: Path, slos: int, start: int, end: int) -> int:
    """Counters from start to end (30s), and each rule set's 5m series from start+5m to end (1m)."""
    samples = 0
    with path.open("w", encoding="utf-8") as out:
        for i in range(slos):
            flow = traffic(i, slos, start)
            for code, share in SHARES.items():
                lines = [
                    f"{counter_line(service(i), code, flow.count(t, share))} {t}\n" for t in range(start, end, SAMPLE)
                ]
                out.writelines(lines)
                samples += len(lines)
        # the history the rules would have recorded: the 5m rates (Parapet) and the 5m ratio (Sloth)
        for i in range(slos):
            flow = traffic(i, slos, start)
            job = service(i)
            events, errors, ratio = [], [], []
            for t in range(start + 300, end, 60):
                total = flow.total(t - 150)
                events.append(f'parapet_slo:events:rate5m{{service="bench",slo="{job}"}} {total:.6f} {t}\n')
                errors.append(f'parapet_slo:errors:rate5m{{service="bench",slo="{job}"}} {total * 0.0007:.9f} {t}\n')
                ratio.append(
                    "slo:sli_error:ratio_rate5m{"
                    f'cmd="examplesgen.sh",owner="myteam",repo="myorg/{job}",sloth_id="{job}-requests-availability",'
                    f'sloth_service="{job}",sloth_slo="requests-availability",sloth_window="5m",tier="2"'
                    f"}} 0.0007 {t}\n"
                )
            for chunk in (events, errors, ratio):
                out.writelines(chunk)
                samples += len(chunk)
        out.write("# EOF\n")
    return samples


class Exporter:
    """The same counters, live: Prometheus scrapes them from here after the backfilled history ends."""

    def __init__(self, slos: int, start: int) -> None:
        import http.server
        import threading

        flows = [traffic(i, slos, start) for i in range(slos)]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                now = time.time()
                body = "".join(
                    counter_line(service(i), code, flow.count(now, share)) + "\n"
                    for i, flow in enumerate(flows)
                    for code, share in SHARES.items()
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------------------------- prometheus


def get(url: str, query: str) -> list[dict[str, Any]]:
    import json

    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}", timeout=60) as r:
        body = json.loads(r.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def scalar(url: str, query: str) -> float:
    result = get(url, query)
    return float(result[0]["value"][1]) if result else float("nan")


def memory(pid: int) -> tuple[int, int]:
    """Resident and peak resident memory of a process, in bytes."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


@dataclass
class Result:
    name: str
    cycle_median: float
    cycle_worst: float
    cpu_per_cycle: float
    series_per_slo: float
    samples_per_slo: float
    rss: int
    peak: int
    rules_per_slo: float
    detail: dict[str, float]


def rule_times(url: str) -> dict[str, float]:
    """Mean last evaluation time of each rule, by record or alert name, over the SLOs (/api/v1/rules)."""
    import json

    with urllib.request.urlopen(f"{url}/api/v1/rules", timeout=60) as response:
        groups = json.loads(response.read())["data"]["groups"]
    times: dict[str, list[float]] = {}
    for group in groups:
        for rule in group["rules"]:
            key = (
                rule["name"]
                if rule["type"] == "recording"
                else f"alert {rule['labels'].get('sloth_severity') or rule['labels'].get('severity', '')}"
            )
            times.setdefault(key, []).append(float(rule["evaluationTime"]))
    return {k: statistics.mean(v) for k, v in times.items()}


def own_metrics(url: str, name: str, bare: bool = False) -> list[float]:
    """Values of one metric family on Prometheus' own /metrics page (``bare``: a series without labels)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=60) as response:
        text = response.read().decode()
    prefix = name + " " if bare else name + "{"
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)]


def measure(
    name: str,
    prometheus: str,
    tsdb: Path,
    rules: str,
    slos: int,
    interval: int,
    cycles: int,
    work: Path,
    exporter: int,
) -> Result:
    data = work / f"{name}-data"
    shutil.copytree(tsdb, data)
    rule_file = work / f"{name}.rules.yml"
    rule_file.write_text(rules, encoding="utf-8")
    port = free_port()
    config = work / f"{name}.prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"evaluation_interval": f"{interval}s", "scrape_interval": f"{SAMPLE}s"},
                "rule_files": [str(rule_file)],
                "scrape_configs": [
                    {
                        "job_name": "bench",
                        "honor_labels": True,  # keep the job and instance of the backfilled series
                        "static_configs": [{"targets": [f"127.0.0.1:{exporter}"]}],
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    url = f"http://127.0.0.1:{port}"
    log = (work / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=60d",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"prometheus did not start: {(work / f'{name}.log').read_text()[-2000:]}")
            time.sleep(0.5)
        # wait for every group's first (warm-up) evaluation, then take one reading per cycle
        expected_groups = len(yaml.safe_load(rules)["groups"])
        warm = time.monotonic() + 10 * interval
        while (
            sum(1 for v in own_metrics(url, "prometheus_rule_group_last_duration_seconds") if v > 0) < expected_groups
        ):
            if time.monotonic() > warm:
                raise SystemExit(f"{name}: not every rule group was evaluated within {10 * interval} s")
            time.sleep(1)
        time.sleep(interval)
        readings = []
        cpu_before = sum(own_metrics(url, "process_cpu_seconds_total", bare=True))
        for _ in range(cycles):
            time.sleep(interval)
            readings.append(sum(own_metrics(url, "prometheus_rule_group_last_duration_seconds")))
        cpu = (sum(own_metrics(url, "process_cpu_seconds_total", bare=True)) - cpu_before) / cycles
        names = "|".join(sorted(record_names(rules)))  # [a-z0-9_:] only: nothing to escape
        series = scalar(url, f'count({{__name__=~"{names}"}})')
        samples = sum(own_metrics(url, "prometheus_rule_group_last_evaluation_samples"))
        detail = rule_times(url)
        rss, peak = memory(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)
    return Result(
        name,
        statistics.median(readings),
        max(readings),
        cpu,
        series / slos,
        samples / slos,
        rss,
        peak,
        rules_per_slo(rules, slos),
        detail,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=100)
    parser.add_argument("--days", type=float, default=3)
    parser.add_argument("--cycles", type=int, default=8, help="evaluation cycles measured per rule set")
    parser.add_argument("--interval", default="20s", help="evaluation interval of every group during the run")
    parser.add_argument("--detail", action="store_true", help="also print each rule's mean evaluation time")
    args = parser.parse_args()
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus is None or promtool is None:
        print("error: prometheus and promtool are needed\nhint: apt-get install -y prometheus", file=sys.stderr)
        return 2
    interval = int(timedelta(seconds=int(args.interval.rstrip("s"))).total_seconds())
    with tempfile.TemporaryDirectory(prefix="parapet-rule-eval-") as tmp:
        work = Path(tmp)
        now = int(time.time()) // 60 * 60
        start = now - int(args.days * 86400)
        began = time.monotonic()
        samples = openmetrics(work / "data.om", args.slos, start, now)
        tsdb = work / "tsdb"
        subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(work / "data.om"), str(tsdb)],
            check=True,
            capture_output=True,
        )
        (work / "data.om").unlink()
        print(
            f"backfilled {samples:,} samples ({args.slos} services, {args.days:g} days) in "
            f"{time.monotonic() - began:.0f} s",
            file=sys.stderr,
        )
        # the counters go on live from there: the rules always find fresh samples
        exporter = Exporter(args.slos, start)
        results = []
        for name, rules in (
            ("parapet", with_interval(parapet_rules(args.slos, work), args.interval)),
            ("sloth", with_interval(sloth_rules(args.slos), args.interval)),
        ):
            print(f"measuring {name} ...", file=sys.stderr)
            results.append(
                measure(name, prometheus, tsdb, rules, args.slos, interval, args.cycles, work, exporter.port)
            )
        exporter.close()
    version = subprocess.run([prometheus, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    print(f"{args.slos} SLOs, {args.days:g} days backfilled, every group at {args.interval}; {version}")
    header = (
        f"{'rules':<8} {'s/cycle (median)':>17} {'s/cycle (worst)':>16} {'CPU s/cycle':>12} {'series/SLO':>11} "
        f"{'samples/SLO/cycle':>18} {'RSS MiB':>8} {'peak MiB':>9} {'rules/SLO':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<8} {r.cycle_median:>17.3f} {r.cycle_worst:>16.3f} {r.cpu_per_cycle:>12.3f} "
            f"{r.series_per_slo:>11.1f} {r.samples_per_slo:>18.1f} {r.rss / 2**20:>8.0f} {r.peak / 2**20:>9.0f} "
            f"{r.rules_per_slo:>10.1f}"
        )
    parapet, sloth = results
    if args.detail:
        for r in results:
            print(f"\n{r.name}: ms per rule evaluation, mean over the SLOs (last cycle)")
            for key, seconds in sorted(r.detail.items(), key=lambda kv: -kv[1]):
                print(f"  {seconds * 1000:8.2f}  {key}")
    print(
        f"parapet / sloth: evaluation {parapet.cycle_median / sloth.cycle_median:.2f}x "
        f"(CPU {parapet.cpu_per_cycle / sloth.cpu_per_cycle:.2f}x), "
        f"recorded series {parapet.series_per_slo / sloth.series_per_slo:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
