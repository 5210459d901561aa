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
    where = re.findall(r"(app/\w+\.py:\d+:\d+)", result.stdout)
    assert where == sorted(where, key=lambda w: (w.split(":")[0], int(w.split(":")[1]), int(w.split(":")[2])))
    assert [w.split(":")[0] for w in where] == ["app/metrics.py"] * 2 + ["app/views.py"] * 3
    # one rule line between the two files, none inside a file
    rules = [line for line in result.stdout.splitlines() if line.startswith("├")]
    assert len(rules) == 1
