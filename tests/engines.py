"""One harness, two rule engines: Prometheus (``promtool test rules``) and VictoriaMetrics (``vmalert -replay``).

A behaviour case is written once, in promtool's unit-test shape (``input_series`` in promtool's
values notation, ``promql_expr_test`` and ``alert_rule_test`` at evaluation times), and each engine
runs it its own way:

- ``Promtool`` writes the cases to a test file and runs ``promtool test rules``.
- ``VictoriaMetrics`` starts a private ``victoria-metrics`` on a free loopback port with its data in a
  temporary directory, imports the input series (promtool's clock starts at the Unix epoch, so the
  samples move 100 days later, see ``BASE``), replays the rule files over the case's time
  range with ``vmalert -replay`` (query step = the 1m evaluation interval, one range query per rule, so
  alert ``for:`` state runs unbroken), then checks every expectation against the store: ``ALERTS``
  selectors by the exact samples vmalert wrote at that minute (``/api/v1/export``), other expressions by
  an instant query. The server is stopped when the case ends, whatever happens.

What vmalert's replay cannot show is said, not skipped: it writes ``ALERTS`` series without
annotations, so ``alert_rule_test`` annotations are checked by promtool only (labels on both).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_promtool

# promtool's clock starts at the Unix epoch; VictoriaMetrics answers nothing for a range that reaches
# before it, and the period rules look back 30 days (90 at most). So every sample, query and replay is
# shifted by this much, and so are values that are Unix times (gauges named *_timestamp_seconds).
BASE = 100 * 86400


class Engine:
    name = ""

    def check(self, directory: Path, rule_file: str, lint: bool = True) -> None:
        """The engine loads the rule file without complaint (and, with ``lint``, passes promtool's linter)."""
        raise NotImplementedError

    def run(self, directory: Path, rule_files: list[str], cases: list[dict[str, Any]]) -> str:
        """Evaluate the rule files over every case; fail with the engine's account unless all pass."""
        raise NotImplementedError


# ----------------------------------------------------------------------------------------- promtool


class Promtool(Engine):
    name = "prometheus"

    def __init__(self, promtool: str) -> None:
        self.promtool = promtool

    def check(self, directory: Path, rule_file: str, lint: bool = True) -> None:
        flags = ["--lint=all", "--lint-fatal"] if lint else []
        result = run_promtool(self.promtool, "check", "rules", *flags, rule_file, cwd=directory)
        assert result.returncode == 0, f"promtool check rules failed:\n{result.stdout}\n{result.stderr}"

    def run(self, directory: Path, rule_files: list[str], cases: list[dict[str, Any]]) -> str:
        path = directory / "behaviour.test.yml"
        path.write_text(
            yaml.safe_dump({"rule_files": rule_files, "evaluation_interval": "1m", "tests": cases}, sort_keys=False),
            encoding="utf-8",
        )
        result = run_promtool(self.promtool, "test", "rules", path.name, cwd=directory)
        assert result.returncode == 0, f"promtool test rules failed:\n{result.stdout}\n{result.stderr}"
        assert "SUCCESS" in result.stdout, f"{result.stdout}\n{result.stderr}"
        return result.stdout


# ------------------------------------------------------------------------------ promtool's notation

_NUMBER = r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?"
_TERM = re.compile(rf"^({_NUMBER}|_|stale)(?:([+-])({_NUMBER[2:]}))?(?:x(\d+))?$")


def expand(values: str) -> list[float | None]:
    """promtool's ``values`` notation as one value per step (None: no sample; ``stale`` too)."""
    out: list[float | None] = []
    for term in values.split():
        match = _TERM.match(term)
        if match is None:
            raise ValueError(f"unsupported values term {term!r}")
        start, sign, step, times = match.groups()
        if start in ("_", "stale"):
            out.extend([None] * (int(times) if times else 1))
            continue
        base = float(start)
        delta = (float(step) if sign == "+" else -float(step)) if sign else 0.0
        if times is None:
            out.append(base)
        else:
            out.extend(base + delta * i for i in range(int(times) + 1))
    return out


_SERIES = re.compile(r"^\s*([a-zA-Z_:][\w:]*)?\s*(?:\{(.*)\})?\s*$", re.S)
_LABEL = re.compile(r'\s*([a-zA-Z_]\w*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_series(text: str) -> dict[str, str]:
    """``name{a="b", …}`` (name optional) as a label dict, ``__name__`` included when named."""
    match = _SERIES.match(text)
    if match is None:
        raise ValueError(f"cannot read series {text!r}")
    name, body = match.groups()
    labels: dict[str, str] = {}
    if name:
        labels["__name__"] = name
    for key, value in _LABEL.findall(body or ""):
        labels[key] = json.loads(f'"{value}"')
    return labels


def minutes(duration: str) -> int:
    match = re.fullmatch(r"(\d+)([smhd])", duration)
    assert match is not None, duration
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return int(match.group(1)) * scale // 60


# ------------------------------------------------------------------------------- VictoriaMetrics


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mismatch:
    case: str
    minute: int
    what: str
    expected: Any
    got: Any

    def __str__(self) -> str:
        return f"[{self.case}] at {self.minute}m, {self.what}:\n    expected {self.expected}\n    got      {self.got}"


class VictoriaMetrics(Engine):
    name = "victoriametrics"
    # an ALERTS selector (the behaviour tests' alert checks): compared sample by sample at the exact minute
    _ALERTS = re.compile(r"^ALERTS(\{.*\})?$", re.S)

    def __init__(self, server: str, vmalert: str) -> None:
        self.server = server
        self.vmalert = vmalert

    def check(self, directory: Path, rule_file: str, lint: bool = True) -> None:
        result = subprocess.run(
            [self.vmalert, "-dryRun", f"-rule={directory / rule_file}", "-loggerLevel=ERROR"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"vmalert -dryRun failed:\n{result.stdout}\n{result.stderr}"

    def run(self, directory: Path, rule_files: list[str], cases: list[dict[str, Any]]) -> str:
        problems: list[Mismatch] = []
        for number, case in enumerate(cases):
            problems += self._case(directory, rule_files, case, directory / f"vm-{number}")
        assert not problems, f"{len(problems)} expectation(s) failed on VictoriaMetrics:\n" + "\n".join(
            str(p) for p in problems
        )
        return "SUCCESS"

    # -- one case

    def _case(self, directory: Path, rule_files: list[str], case: dict[str, Any], storage: Path) -> list[Mismatch]:
        step = minutes(case.get("interval", "1m")) * 60
        checks = case.get("promql_expr_test", []) + case.get("alert_rule_test", [])
        end = max(minutes(c["eval_time"]) for c in checks)
        with self._server(storage) as url:
            self._import(url, case["input_series"], step)
            self._replay(url, [directory / f for f in rule_files], end)
            name = case.get("name", "case")
            problems: list[Mismatch] = []
            for check in case.get("promql_expr_test", []):
                problems += self._expr(url, name, check)
            for check in case.get("alert_rule_test", []):
                problems += self._alerts(url, name, check)
            return problems

    @contextlib.contextmanager
    def _server(self, storage: Path) -> Iterator[str]:
        shutil.rmtree(storage, ignore_errors=True)
        storage.mkdir(parents=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = (storage / "victoria-metrics.log").open("wb")
        process = subprocess.Popen(
            [
                self.server,
                f"-storageDataPath={storage / 'data'}",
                f"-httpListenAddr=127.0.0.1:{port}",
                "-retentionPeriod=100y",  # keep samples from 1970 (see BASE)
                "-search.disableCache",
                "-loggerLevel=ERROR",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"victoria-metrics did not start: {(storage / 'victoria-metrics.log').read_text()}"
                    )
                time.sleep(0.05)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
            shutil.rmtree(storage / "data", ignore_errors=True)

    @staticmethod
    def _post(url: str, body: bytes) -> None:
        request = urllib.request.Request(url, data=body, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status in (200, 204), response.status

    def _import(self, url: str, input_series: list[dict[str, str]], step: int) -> None:
        lines = []
        for entry in input_series:
            metric = parse_series(entry["series"])
            shift = BASE if metric.get("__name__", "").endswith("_timestamp_seconds") else 0
            points = [
                ((BASE + i * step) * 1000, v + shift)
                for i, v in enumerate(expand(str(entry["values"])))
                if v is not None
            ]
            lines.append(
                json.dumps(
                    {
                        "metric": metric,
                        "values": [v for _, v in points],
                        "timestamps": [t for t, _ in points],
                    }
                )
            )
        self._post(f"{url}/api/v1/import", "\n".join(lines).encode())
        self._flush(url)

    def _flush(self, url: str) -> None:
        with urllib.request.urlopen(f"{url}/internal/force_flush", timeout=30) as response:
            assert response.status == 200

    def _replay(self, url: str, rule_files: list[Path], end_minute: int) -> None:
        """``vmalert -replay`` of every rule, in file, group and rule order, each run flushed to the store.

        vmalert replays a group rule by rule, each rule as range queries over the whole time range, and
        only sleeps ``-replay.rulesDelay`` between rules for the previous rule's samples to become
        searchable. Here each rule is replayed by its own vmalert run (a copy of its group holding just
        that rule), and the store is flushed before the next one: the same evaluation, without
        guessing a delay.
        """
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(BASE))
        to = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(BASE + (end_minute + 1) * 60))
        singles: list[Path] = []
        for path in rule_files:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            for g, group in enumerate(document["groups"]):
                for r, rule in enumerate(group["rules"]):
                    single = path.parent / f".replay-{path.stem}-{g}-{r}.yml"
                    single.write_text(yaml.safe_dump({"groups": [{**group, "rules": [rule]}]}), encoding="utf-8")
                    singles.append(single)
        for single in singles:
            result = subprocess.run(
                [
                    self.vmalert,
                    f"-rule={single}",
                    f"-datasource.url={url}",
                    f"-remoteWrite.url={url}",
                    f"-replay.timeFrom={since}",
                    f"-replay.timeTo={to}",
                    # one step per evaluation: the default (5m) would break every for: and every window
                    "-datasource.queryStep=1m",
                    # one range query per rule over the whole case: alert state restarts at each query
                    f"-replay.maxDatapointsPerQuery={end_minute + 10}",
                    "-replay.rulesDelay=0s",
                    "-replay.disableProgressBar",
                    "-loggerLevel=ERROR",
                ],
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            assert result.returncode == 0, f"vmalert -replay failed on {single.name}:\n{result.stdout}\n{result.stderr}"
            self._flush(url)

    # -- expectations

    def _get(self, url: str, path: str, params: dict[str, str]) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{url}{path}?{query}", timeout=60) as response:
            return response.read().decode()

    def _exact(self, url: str, selector: str, minute: int) -> list[dict[str, str]]:
        """Label sets of the samples of ``selector`` written at exactly ``minute``."""
        t = BASE + minute * 60
        text = self._get(url, "/api/v1/export", {"match[]": selector, "start": str(t), "end": str(t)})
        out = []
        for line in text.splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            if t * 1000 in entry["timestamps"]:
                out.append(entry["metric"])
        return out

    def _expr(self, url: str, case: str, check: dict[str, Any]) -> list[Mismatch]:
        minute = minutes(check["eval_time"])
        expr = check["expr"]
        expected = [(parse_series(s["labels"]), float(s["value"])) for s in check.get("exp_samples") or []]
        if self._ALERTS.match(expr.strip()):
            got_labels = self._exact(url, expr, minute)
            got = sorted(_key(labels) for labels in got_labels)
            want = sorted(_key(labels) for labels, _ in expected)
            return [] if got == want else [Mismatch(case, minute, expr, want, got)]
        body = json.loads(self._get(url, "/api/v1/query", {"query": expr, "time": str(BASE + minute * 60)}))
        if body.get("status") != "success":
            return [Mismatch(case, minute, expr, "a result", body)]
        data = body["data"]
        if data["resultType"] == "scalar":
            results = [({}, float(data["result"][1]))]
        else:
            results = [(r["metric"], float(r["value"][1])) for r in data["result"]]
        got_pairs = sorted((_key(labels), value) for labels, value in results)
        want_pairs = sorted((_key(labels), value) for labels, value in expected)
        same = len(got_pairs) == len(want_pairs) and all(
            g[0] == w[0] and _close(g[1], w[1]) for g, w in zip(got_pairs, want_pairs, strict=True)
        )
        return [] if same else [Mismatch(case, minute, expr, want_pairs, got_pairs)]

    def _alerts(self, url: str, case: str, check: dict[str, Any]) -> list[Mismatch]:
        # vmalert's replay writes ALERTS without annotations: the labels are compared here, the annotations
        # by promtool on the same case.
        minute = minutes(check["eval_time"])
        name = check["alertname"]
        got = sorted(
            _key(labels) for labels in self._exact(url, f'ALERTS{{alertname="{name}", alertstate="firing"}}', minute)
        )
        want = sorted(
            _key(
                {
                    **{k: str(v) for k, v in a.get("exp_labels", {}).items()},
                    "alertname": name,
                    "alertstate": "firing",
                    "__name__": "ALERTS",
                }
            )
            for a in check.get("exp_alerts") or []
        )
        return [] if got == want else [Mismatch(case, minute, f"firing {name}", want, got)]


def _key(labels: dict[str, str]) -> str:
    return json.dumps({k: v for k, v in sorted(labels.items()) if k != "alertgroup"})


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# -------------------------------------------------------------------------------------- fixtures


def _required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("PARAPET_REQUIRE_PROMTOOL"))


def victoriametrics() -> VictoriaMetrics:
    """The real VictoriaMetrics single-node server and vmalert (Debian package ``victoria-metrics``)."""
    server, vmalert = shutil.which("victoria-metrics"), shutil.which("vmalert")
    if server is None or vmalert is None:
        message = "victoria-metrics and vmalert are not installed: apt-get install -y victoria-metrics"
        if _required():
            pytest.fail(message)
        pytest.skip(message)
    return VictoriaMetrics(server, vmalert)
