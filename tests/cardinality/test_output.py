"""The people's text output of ``parapet doctor cardinality``: findings grouped by file, in line order, each with
``path:line:col``."""

from __future__ import annotations

import re
from pathlib import Path


def test_text_is_grouped_by_file_in_line_order(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "metrics.py").write_text(
        "from prometheus_client import Counter, Gauge\n"
        'HITS = Counter("hits_total", "Hits.", ["user_id"])\n'
        'RSS = Gauge("rss_bytes", "RSS.", multiprocess_mode="all")\n'
    )
    (tmp_path / "app" / "views.py").write_text(
        "from app.metrics import HITS\n"
        "def view(request):\n"
        "    HITS.labels(request.url.path).inc()\n"
        "    HITS.labels(request.path, 'extra').inc()\n"
    )
    result = cli("doctor", "cardinality", "--root", str(tmp_path), "--no-cache")
    assert result.exit_code == 1, result.output
    where = re.findall(r"(?<!also )(app/\w+\.py:\d+:\d+)", result.stdout)
    assert where == sorted(where, key=lambda w: (w.split(":")[0], int(w.split(":")[1]), int(w.split(":")[2])))
    assert [w.split(":")[0] for w in where] == ["app/metrics.py"] * 2 + ["app/views.py"]
    # user_id is one cause (PAR402): the two raw paths given to it are listed under it, not reported again
    assert re.findall(r"also (app/\w+\.py:\d+:\d+)", result.stdout) == ["app/views.py:3:5", "app/views.py:4:5"]
    # one rule line between the two files, none inside a file
    rules = [line for line in result.stdout.splitlines() if line.startswith("├")]
    assert len(rules) == 1


def test_one_finding_per_cause_in_every_format(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    import jsonschema

    schema = Path(__file__).resolve().parent.parent / "fixtures" / "sarif-schema-2.1.0.json"
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "m.py").write_text(
        "import uuid\nfrom prometheus_client import Counter\n"
        'RUNS = Counter("runs_total", "Runs.", ["run"])\n'
        "def a():\n    RUNS.labels(str(uuid.uuid4())).inc()\n"
        "def b():\n    RUNS.labels(run=str(uuid.uuid4())).inc()\n"
    )
    (tmp_path / "app" / "n.py").write_text(
        "import uuid\nfrom app.m import RUNS\ndef c():\n    RUNS.labels(f'{uuid.uuid1()}').inc()\n"
    )
    body = json.loads(cli("doctor", "PAR403", "--root", str(tmp_path), "--format", "json").stdout)
    (finding,) = body["findings"]  # three places, one cause: RUNS's run label gets a new uuid per call
    assert (finding["path"], finding["line"]) == ("app/m.py", 5)
    assert [(r["path"], r["line"], r["column"]) for r in finding["related"]] == [("app/m.py", 7, 5), ("app/n.py", 4, 5)]
    assert all("uuid" in r["message"] for r in finding["related"])
    sarif = json.loads(cli("doctor", "PAR403", "--root", str(tmp_path), "--format", "sarif").stdout)
    jsonschema.validate(sarif, json.loads(schema.read_text(encoding="utf-8")))
    (result,) = sarif["runs"][0]["results"]
    assert [r["physicalLocation"]["region"]["startLine"] for r in result["relatedLocations"]] == [7, 4]
    github = cli("doctor", "PAR403", "--root", str(tmp_path), "--format", "github").stdout
    assert "Also at: app/m.py:7:5, app/n.py:4:5" in github
    text = cli("doctor", "PAR403", "--root", str(tmp_path)).stdout
    assert re.findall(r"also (app/\w+\.py:\d+:\d+)", text) == ["app/m.py:7:5", "app/n.py:4:5"]
