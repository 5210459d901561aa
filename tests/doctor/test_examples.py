"""Every check's own examples, declared next to its code (``@check(..., examples=...)``), as tests: a firing
example must give exactly its findings (path, line, severity), a quiet one none."""

from __future__ import annotations

from pathlib import Path

import pytest

from parapet_cli.doctor.registry import REGISTRY, Example, load
from tests.doctor.helpers import ENV_URL, doctor, found, store_with_jobs, write

load()
CASES = [(check_id, e) for check_id, c in sorted(REGISTRY.items()) for e in c.examples]


@pytest.mark.parametrize(("check_id", "example"), CASES, ids=[f"{c}-{e.name}" for c, e in CASES])
def test_example(check_id: str, example: Example, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write(tmp_path / example.name, dict(example.files))
    monkeypatch.delenv(ENV_URL, raising=False)
    if example.store_jobs is not None:
        monkeypatch.setenv(ENV_URL, store_with_jobs(tmp_path / "store.db", example.store_jobs))
    report = doctor(root, check_id)
    assert found(report, check_id) == sorted(example.fires)
    if example.quiet:
        assert report.exit_code == 0


def test_every_multinode_check_proves_itself_both_ways() -> None:
    for check_id, c in REGISTRY.items():
        if c.info.family == "multinode":
            assert any(e.fires for e in c.examples), f"{check_id} has no firing example"
            assert any(e.quiet for e in c.examples), f"{check_id} has no quiet example"
