"""The spec's alertmanager: block: values as the intake reads them, and errors that name the line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from parapet.errors import SpecError
from parapet.spec import load_spec
from tests.alerts.conftest import MINI_SPEC


def test_values(tmp_path: Path) -> None:
    spec = tmp_path / "parapet.yaml"
    spec.write_text(
        MINI_SPEC + "alertmanager:\n  url: http://am:9093/\n  repeat_interval: 2h\n"
        "  webhook_token_file: secrets/token\n  ignore_labels: [replica]\n"
        "  correlation:\n    - {match: {team: db}, by: [cluster]}\n"
    )
    am = load_spec(spec).alertmanager
    assert am.url == "http://am:9093" and am.repeat_interval == timedelta(hours=2)
    assert am.webhook_token_file == tmp_path / "secrets" / "token"
    assert am.ignore_labels == ("replica",)
    assert [(r.match, r.by) for r in am.correlation] == [((("team", "db"),), ("cluster",))]
    defaults = load_spec(_write(tmp_path, MINI_SPEC)).alertmanager
    assert defaults.url is None and defaults.repeat_interval == timedelta(hours=4)
    assert defaults.ignore_labels == ("replica", "prometheus_replica")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "other.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("block", "line", "needle"),
    [
        ("alertmanager:\n  repeat_interval: 0s\n", 9, "is not a duration"),
        ("alertmanager:\n  repeat_interval: soon\n", 9, "is not a duration"),
        ("alertmanager:\n  url: ftp://am\n", 9, "url"),
        ("alertmanager:\n  correlation:\n    - match: {team: db}\n", 10, "by"),
        ("alertmanager:\n  colour: blue\n", 9, "colour"),
    ],
)
def test_errors_name_the_line(tmp_path: Path, block: str, line: int, needle: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(_write(tmp_path, MINI_SPEC + block))
    assert caught.value.location is not None and caught.value.location.line == line, str(caught.value)
    assert needle in str(caught.value) + str(caught.value.location.field)
