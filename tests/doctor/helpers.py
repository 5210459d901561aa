"""Running the doctor on fixture repositories, and asserting that findings point at real lines."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from parapet import conventions
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Severity
from parapet_cli.doctor.registry import REGISTRY, Example, load
from parapet_cli.doctor.repo import Repo
from parapet_cli.doctor.runner import Report, run_doctor
from parapet_cli.doctor.topology import Topology

_EXAMPLE = re.compile(r"^par(\d{3})-(.+)$")
_MATERIALISED: dict[str, Path] = {}
# Repositories of Parapet's own configuration, by the example that holds them.
ALIASES = {"config-good": "par203-good", "config-bad": "par203-bad", "config-invalid-spec": "par201-invalid-spec"}


def fixture_names() -> list[str]:
    """Every check's examples, as fixture names."""
    load()
    return [f"par{cid[3:]}-{e.name}" for cid, c in sorted(REGISTRY.items()) for e in c.examples]


def example(check_id: str, name: str) -> Example:
    load()
    (found,) = [e for e in REGISTRY[check_id].examples if e.name == name]
    return found


def fixture(name: str) -> Path:
    """A fixture repository: ``parNNN-NAME`` is the example NAME that check PARNNN declares next to its code
    (written once per test session); ``config-good`` and the like name the examples in ``ALIASES``."""
    match = _EXAMPLE.match(ALIASES.get(name, name))
    assert match is not None, f"no example {name}: fixtures are the checks' examples (parNNN-NAME)"
    if name not in _MATERIALISED:
        holder = Path(tempfile.mkdtemp(prefix=f"parapet-{name}-"))
        atexit.register(shutil.rmtree, holder, True)  # gone when the test session ends
        root = holder / name
        write(root, dict(example(f"PAR{match.group(1)}", match.group(2)).files))
        _MATERIALISED[name] = root
    return _MATERIALISED[name]


def copy_fixture(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(fixture(name), target, symlinks=True)
    return target


def doctor(root: Path, *selectors: str, spec: Path | None = None, fail_on: Severity = Severity.ERROR) -> Report:
    report = run_doctor(root, spec=spec, selectors=list(selectors), fail_on=fail_on)
    assert_real_lines(report)
    return report


def found(report: Report, rule: str) -> list[tuple[str | None, int | None, str]]:
    return sorted(
        (r.finding.path, r.finding.line, r.finding.severity.value) for r in report.active if r.finding.rule == rule
    )


def assert_real_lines(report: Report) -> None:
    """Every finding that names a file names one that exists, at a line the file has."""
    for r in report.results:
        f = r.finding
        if f.path is None:
            assert f.line is None, f
            continue
        path = report.root / f.path
        assert path.exists() or path.is_symlink(), f"{f.rule} points at a missing file {f.path}"
        if f.line is not None:
            lines = path.read_text(encoding="utf-8").splitlines()
            assert 1 <= f.line <= len(lines), f"{f.rule} points at {f.path}:{f.line}, past its {len(lines)} lines"


def write(root: Path, files: dict[str, str]) -> Path:
    """A repository made of ``files`` (path -> text) under ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def topology(root: Path) -> Topology:
    return Context(root=root, repo=Repo(root)).topology


ENV_URL = conventions.DATABASE_URL_ENV


def store_with_jobs(path: Path, rows: Iterable[Mapping[str, object]]) -> str:
    """A migrated SQLite store at ``path`` holding these work-engine jobs (other columns defaulted); its URL."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from parapet.evidence.db import create_engine_for
    from parapet.evidence.schema import jobs, metadata

    url = f"sqlite:///{path}"
    engine = create_engine_for(url)
    now = datetime.now(UTC)
    defaults = {"due_at": now, "max_attempts": 10, "payload": {}, "created_at": now, "updated_at": now}
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            for row in rows:
                conn.execute(insert(jobs).values(**{**defaults, **row}))
    finally:
        engine.dispose()
    return url
