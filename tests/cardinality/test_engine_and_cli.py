"""``parapet doctor cardinality`` end to end: the prefilter, the process pool, notes for broken files, the
JSON/SARIF/text output it shares with the doctor, inline suppression, ``--path`` and the configuration."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from rich.console import Console

from parapet_cli.analyzers.cardinality import engine
from parapet_cli.analyzers.cardinality.engine import analyze, select_files
from parapet_cli.analyzers.cardinality.rules import RULES
from parapet_cli.cli import _render
from parapet_cli.doctor.repo import Repo
from tests.doctor.helpers import assert_real_lines, doctor

doctor_cli = importlib.import_module("parapet_cli.cli.doctor")  # the package's `doctor` is the command function
SCHEMA = Path(__file__).resolve().parent.parent / "fixtures" / "sarif-schema-2.1.0.json"

METRICS = """\
from prometheus_client import Counter, Histogram

REQUESTS = Counter("requests_total", "Requests.", ["route", "status"])
LATENCY = Histogram("request_seconds", "Latency.", ["tenant_id"])
"""
VIEWS = """\
from fastapi import Request

from app.metrics import LATENCY, REQUESTS


async def middleware(request: Request, call_next):
    response = await call_next(request)
    REQUESTS.labels(request.url.path, str(response.status_code)).inc()
    REQUESTS.labels(route="x").inc()
    return response
"""
UTILS = "def helper(items):\n    items.remove(1)\n    return items\n"


def host(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return host(tmp_path, {"app/metrics.py": METRICS, "app/views.py": VIEWS, "app/utils.py": UTILS})


def test_prefilter_keeps_files_without_metrics_away_from_libcst(app: Path) -> None:
    files = select_files(app, Repo(app).files, ())
    assert files == ["app/metrics.py", "app/utils.py", "app/views.py"]
    analysis = analyze(app, files, jobs=1)
    assert [f.path for f in analysis.files] == ["app/metrics.py", "app/views.py"]


def test_paths_limit_the_files(app: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(app)
    assert select_files(app, Repo(app).files, (Path("app/views.py"),)) == ["app/views.py"]
    assert select_files(app, Repo(app).files, (Path("app"),)) == ["app/metrics.py", "app/utils.py", "app/views.py"]


def test_worker_processes_give_the_same_facts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"pkg/m{i}.py": METRICS.replace("REQUESTS", f"R{i}") + VIEWS for i in range(12)}
    root = host(tmp_path, files)
    rels = sorted(files)
    alone = analyze(root, rels, jobs=1)
    monkeypatch.setattr(engine, "POOL_MIN_BYTES", 0)
    together = analyze(root, rels, jobs=3)
    assert together.stats.workers == 2 and alone.stats.workers == 0
    assert together.files == alone.files and len(alone.files) == 12


def test_a_handful_of_small_files_starts_no_worker(app: Path) -> None:
    analysis = analyze(app, ["app/metrics.py", "app/views.py"], jobs=4)
    assert analysis.stats.parsed == 2 and analysis.stats.workers == 0


def test_findings_across_files_with_metric_and_label(app: Path) -> None:
    report = doctor(app, "cardinality")
    got = sorted(
        (r.finding.rule, r.finding.path, r.finding.line, dict(r.finding.extra)["label"]) for r in report.active
    )
    assert got == [
        ("PAR402", "app/metrics.py", 4, "tenant_id"),
        ("PAR404", "app/views.py", 8, "route"),
        ("PAR406", "app/views.py", 9, "route,status"),
    ]
    (request,) = [r.finding for r in report.active if r.finding.rule == "PAR404"]
    assert 'request.scope["route"].path' in request.hint
    assert {c.id for c in report.checks} == {r.ID for r in RULES}


def test_a_broken_file_is_a_note(tmp_path: Path) -> None:
    root = host(tmp_path, {"app/bad.py": "import prometheus_client\ndef f(:\n"})
    report = doctor(root, "cardinality")
    notes = [r.finding for r in report.active if r.finding.rule == "PAR000"]
    assert len(notes) == 1 and notes[0].path == "app/bad.py" and "cannot parse" in notes[0].message


def test_inline_suppression_with_a_reason(app: Path) -> None:
    views = app / "app" / "views.py"
    text = views.read_text().replace(
        "    REQUESTS.labels(request.url.path",
        "    # parapet: ignore[PAR404] reason=paths are normalised by the proxy\n    REQUESTS.labels(request.url.path",
    )
    views.write_text(text)
    report = doctor(app, "PAR404")
    assert report.active == []
    assert [r.reason for r in report.suppressed] == ["paths are normalised by the proxy"]


def test_json_shape(cli, app: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("doctor", "cardinality", "--root", str(app), "--format", "json", "--jobs", "1")
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    keys = {"rule", "severity", "confidence", "path", "line", "column", "metric", "label", "message", "fingerprint"}
    for finding in body["findings"]:
        assert keys <= finding.keys()
    assert {f["metric"] for f in body["findings"]} == {"request_seconds", "requests_total"}


def test_sarif_validates(cli, app: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("doctor", "cardinality", "--root", str(app), "--format", "sarif")
    sarif = json.loads(result.stdout)
    jsonschema.validate(sarif, json.loads(SCHEMA.read_text(encoding="utf-8")))
    rules = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert {"PAR402", "PAR404", "PAR406"} <= rules


def test_text_names_path_line_and_column(cli, app: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("doctor", "PAR404", "--root", str(app), "--path", str(app / "app"))
    assert result.exit_code == 1, result.output
    assert "app/views.py:8:5" in result.stdout
    assert "PAR402" not in result.stdout


def test_path_outside_the_root_is_a_usage_error(cli, app: Path, tmp_path_factory: pytest.TempPathFactory) -> None:  # type: ignore[no-untyped-def]
    other = tmp_path_factory.mktemp("other")
    result = cli("doctor", "cardinality", "--root", str(app), "--path", str(other))
    assert result.exit_code != 0 and result.exit_code != 1
    assert "is not inside" in result.stderr


def test_configuration_allow_list_and_ceiling(app: Path) -> None:
    (app / "pyproject.toml").write_text('[tool.parapet.cardinality]\nallow-labels = ["tenant_*"]\nmax-labels = 1\n')
    report = doctor(app, "PAR401", "PAR402")
    assert sorted((r.finding.rule, r.finding.line) for r in report.active) == [("PAR401", 3), ("PAR401", 4)]
    assert_real_lines(report)


def test_bad_configuration_is_a_config_error(cli, app: Path) -> None:  # type: ignore[no-untyped-def]
    (app / "pyproject.toml").write_text('[tool.parapet.cardinality]\nmax-labels = "many"\n')
    result = cli("doctor", "cardinality", "--root", str(app))
    assert result.exit_code not in (0, 1)
    assert "max-labels must be a positive integer" in result.stderr


def test_the_pre_commit_hook_runs_this_command() -> None:
    hooks = yaml.safe_load((Path(__file__).resolve().parents[2] / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "parapet-cardinality"]
    assert hook["entry"].split()[:3] == ["parapet", "doctor", "cardinality"]
    assert hook["pass_filenames"] is False


def test_no_cache_and_cache_give_the_same_report(cli, app: Path) -> None:  # type: ignore[no-untyped-def]
    first = cli("doctor", "cardinality", "--root", str(app), "--format", "json")
    second = cli("doctor", "cardinality", "--root", str(app), "--format", "json")
    third = cli("doctor", "cardinality", "--root", str(app), "--format", "json", "--no-cache")
    assert json.loads(first.stdout)["findings"] == json.loads(second.stdout)["findings"]
    assert json.loads(first.stdout)["findings"] == json.loads(third.stdout)["findings"]


def test_a_baseline_survives_lines_inserted_above(cli, app: Path) -> None:  # type: ignore[no-untyped-def]
    baseline = app / "parapet-baseline.json"
    made = cli("doctor", "cardinality", "--root", str(app), "--baseline", str(baseline), "--update-baseline")
    assert made.exit_code == 0, made.output
    assert "wrote 3 findings to the baseline" in made.stderr
    views = app / "app" / "views.py"
    views.write_text("# a comment\n\n\n" + views.read_text())
    metrics = app / "app" / "metrics.py"
    metrics.write_text("\n\n" + metrics.read_text())
    again = cli("doctor", "cardinality", "--root", str(app), "--baseline", str(baseline), "--format", "json")
    assert again.exit_code == 0, again.output
    body = json.loads(again.stdout)
    assert body["findings"] == []
    assert {s["suppressed"]["kind"] for s in body["suppressed"]} == {"baseline"}
    views.write_text(views.read_text() + "\n\ndef more(request):\n    REQUESTS.labels(request.path, 'x')\n")
    new = cli("doctor", "cardinality", "--root", str(app), "--baseline", str(baseline), "--format", "json")
    assert new.exit_code == 1
    # one cause (REQUESTS' route gets raw paths) with a new place: reported again, the new place listed under it
    (finding,) = json.loads(new.stdout)["findings"]
    assert (finding["rule"], finding["line"], [r["line"] for r in finding["related"]]) == ("PAR404", 11, [17])


def test_a_missing_or_foreign_baseline_is_a_usage_error(cli, app: Path) -> None:  # type: ignore[no-untyped-def]
    missing = cli("doctor", "cardinality", "--root", str(app), "--baseline", str(app / "nope.json"))
    assert missing.exit_code not in (0, 1) and "baseline not found" in missing.stderr
    (app / "other.json").write_text("[1, 2]")
    foreign = cli("doctor", "cardinality", "--root", str(app), "--baseline", str(app / "other.json"))
    assert foreign.exit_code not in (0, 1) and "is not a parapet baseline" in foreign.stderr
    lonely = cli("doctor", "cardinality", "--root", str(app), "--update-baseline")
    assert lonely.exit_code == 2 and "--baseline" in lonely.stderr


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
    )


def test_diff_base_reports_only_changed_lines(cli, app: Path) -> None:  # type: ignore[no-untyped-def]
    _git(app, "init", "-q")
    _git(app, "add", "-A")
    _git(app, "commit", "-q", "-m", "base")
    unchanged = cli("doctor", "cardinality", "--root", str(app), "--diff-base", "HEAD", "--format", "json")
    assert unchanged.exit_code == 0, unchanged.output
    assert json.loads(unchanged.stdout)["findings"] == []
    views = app / "app" / "views.py"
    views.write_text(views.read_text() + "\n\ndef more(request):\n    REQUESTS.labels(request.path, 'x')\n")
    (app / "app" / "new.py").write_text("from app.metrics import REQUESTS\nREQUESTS.labels('only-one')\n")
    changed = cli("doctor", "cardinality", "--root", str(app), "--diff-base", "HEAD", "--format", "json")
    assert changed.exit_code == 1
    found = [
        (f["rule"], f["path"], f["line"], [r["line"] for r in f.get("related", [])])
        for f in json.loads(changed.stdout)["findings"]
    ]
    # the new raw path on line 14 is one more place of the cause reported at line 8: kept, as it touches a change
    assert sorted(found) == [("PAR404", "app/views.py", 8, [14]), ("PAR406", "app/new.py", 2, [])]
    bad = cli("doctor", "cardinality", "--root", str(app), "--diff-base", "no-such-ref")
    assert bad.exit_code not in (0, 1) and "--diff-base origin/main" in bad.stderr


def test_a_progress_bar_only_on_a_terminal(cli, app: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple[str, int, int]] = []

    class Recording(doctor_cli._CardinalityBar):
        def __call__(self, phase: str, done: int, total: int) -> None:
            calls.append((phase, done, total))
            super().__call__(phase, done, total)
            assert self.progress is not None
            self.progress.refresh()  # draw now: a run this short ends before the bar's own refresh

    monkeypatch.setattr(doctor_cli, "_CardinalityBar", Recording)
    piped = cli("doctor", "cardinality", "--root", str(app), "--format", "json", "--no-cache")
    assert calls == [] and "cardinality:" not in piped.stderr
    terminal = io.StringIO()
    monkeypatch.setenv("TERM", "xterm")  # Rich draws no live display on a dumb terminal
    monkeypatch.setattr(_render, "stderr", Console(file=terminal, force_terminal=True, width=100))
    shown = cli("doctor", "cardinality", "--root", str(app), "--format", "json", "--no-cache")
    assert calls[-1] == ("parsing", 2, 2)
    assert "cardinality: parsing" in terminal.getvalue() and "2/2" in terminal.getvalue()
    assert json.loads(shown.stdout)["findings"] == json.loads(piped.stdout)["findings"]  # stdout is data only
