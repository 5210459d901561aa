"""Small hosts built from a dict, and the real amtool, for the config-merge and ``--with`` tests."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

CONFIGS = FIXTURES / "configs"
APP = (
    "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n"
    "@app.get('/items/{item_id}')\ndef item(item_id: int) -> dict:\n    return {'id': item_id}\n"
)


def make_host(root: Path, files: dict[str, str], name: str = "shop") -> Path:
    """A FastAPI service called ``name`` with ``files`` (path -> text) beside its app."""
    host = root / name
    host.mkdir(parents=True)
    (host / "app.py").write_text(APP)
    for rel, text in files.items():
        path = host / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return host


def sample(name: str) -> str:
    return (CONFIGS / name).read_text()


def only_insertions(before: str, after: str) -> list[str]:
    """The lines ``after`` added to ``before``; fails if any line of ``before`` changed or went away."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        assert tag in ("equal", "insert"), f"{tag} of {old[i1:i2]!r} -> {new[j1:j2]!r}"
        if tag == "insert":
            added += new[j1:j2]
    return added


def amtool() -> str:
    """The real amtool (Debian package prometheus-alertmanager); CI makes its absence a failure."""
    path = shutil.which("amtool")
    if path is None:
        if os.environ.get("CI") or os.environ.get("PARAPET_REQUIRE_PROMTOOL"):
            pytest.fail("amtool is not installed: apt-get install -y prometheus-alertmanager")
        pytest.skip("amtool is not installed (apt-get install -y prometheus-alertmanager)")
    return path


def am_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [amtool(), "check-config", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def am_routes(path: Path, *labels: str) -> list[str]:
    """The receivers Alertmanager's routing tree sends an alert with ``labels`` to, in order."""
    done = subprocess.run(
        [amtool(), "config", "routes", "test", f"--config.file={path}", *labels],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().split(",")
