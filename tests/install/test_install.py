"""``parapet install`` on real hosts copied to a temporary directory, with their install lines removed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import tree_hash
from tests.install.hosts import unwired


def test_plan_prints_detection_and_writes_nothing(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = unwired("django_shop", tmp_path)
    before = tree_hash(host)
    result = cli("install", str(host), "--plan")
    assert result.exit_code == 0, result.output
    assert "framework: django" in result.stderr and "schema tool: django" in result.stderr
    assert "shopsite/settings.py  (wiring)" in result.stderr
    assert tree_hash(host) == before


def test_hand_edit_is_a_conflict_that_survives_until_force(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = unwired("flask_shop", tmp_path)
    assert cli("install", str(host)).exit_code == 0
    rules = next((host / "prometheus/rules").glob("*.rules.yml"))
    rules.write_text(rules.read_text() + "# my edit\n")
    result = cli("install", str(host))
    assert result.exit_code == 3 and "conflict" in result.output
    assert rules.read_text().endswith("# my edit\n")
    assert cli("install", str(host), "--force").exit_code == 0
    assert "# my edit" not in rules.read_text()


def test_anchor_not_found_changes_nothing_and_reports_the_lines(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = unwired("flask_shop", tmp_path)
    app = host / "shop_flask.py"
    app.write_text(app.read_text().replace("app = Flask(__name__)", "app = make_flask(Flask, __name__)"))
    (host / "factory.py").write_text("from flask import Flask\n\nserver = Flask(__name__)  # keeps detection\n")
    source = app.read_text()
    result = cli("install", str(host))
    assert result.exit_code == 0, result.output
    assert app.read_text() == source


def _chmod_works(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.write_text("")
    probe.chmod(0o444)
    try:
        return not os.access(probe, os.W_OK)  # root writes through file modes
    finally:
        probe.unlink()


BAD_INPUT = {
    "empty": ("no recognisable project", "run parapet install at the root"),
    "syntax-app": ("shop_fastapi/app.py:22:18: ", "fix the syntax error at shop_fastapi/app.py:22"),
    "syntax-engine": ("shop_fastapi/db.py:20:23: ", "fix the syntax error at shop_fastapi/db.py:20"),
    "spec": ("parapet.yaml:", ""),
    "parent-is-a-file": ("grafana is a file, not a directory", "nothing was written"),
    "read-only": ("permission denied", "nothing was written"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_exits_3_and_writes_nothing(cli, tmp_path: Path, case: str) -> None:  # type: ignore[no-untyped-def]
    if case == "empty":
        host = tmp_path / "empty"
        host.mkdir()
        (host / "notes.txt").write_text("hello\n")
    else:
        host = unwired("fastapi_shop", tmp_path / "hosts")
    if case == "syntax-app":
        app = host / "shop_fastapi/app.py"
        app.write_text(app.read_text().replace("    app = FastAPI()\n", "    app = FastAPI(\n"))
    elif case == "syntax-engine":
        db = host / "shop_fastapi/db.py"
        source = db.read_text()
        db.write_text(source.replace("engine = create_engine(DATABASE_URL)", "engine = create_engine(DATABASE_URL"))
    elif case == "spec":
        (host / "parapet.yaml").write_text("version: parapet/v1\nservice: shop\nslos:\n  - name: x\n")
    elif case == "parent-is-a-file":  # fails for root too: no directory can be made under a file
        (host / "grafana").write_text("not a directory\n")
    elif case == "read-only":
        if not _chmod_works(tmp_path):
            pytest.skip("file modes do not stop this user (root); parent-is-a-file covers a refused write")
        (host / "shop_fastapi/db.py").chmod(0o444)
    before = tree_hash(host)
    result = cli("install", str(host))
    assert result.exit_code == 3, result.output
    message, hint = BAD_INPUT[case]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert any(line.startswith("hint: ") and hint in line for line in result.stderr.splitlines()), result.stderr
    assert "Traceback" not in result.output
    assert tree_hash(host) == before
    assert not (host / ".parapet").exists()


def test_syntax_error_message_is_one_line_naming_file_and_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = unwired("fastapi_shop", tmp_path)
    tasks = host / "shop_fastapi/tasks.py"
    tasks.write_text(tasks.read_text().replace("def send_order_confirmation(order_id: int) -> str:", "def send(:"))
    result = cli("install", str(host))
    assert result.exit_code == 3
    assert result.stderr.splitlines()[0] == (
        "error: shop_fastapi/tasks.py:15:10: cannot wire Parapet, the file does not parse: invalid syntax"
    )


SINGLE_MODULE = '''"""A whole service in one module."""

import os

from celery import Celery
from fastapi import FastAPI
from sqlalchemy import create_engine

engine = create_engine(os.environ.get("DATABASE_URL", "sqlite://"))
jobs = Celery("svc", broker="memory://")
app = FastAPI()


@app.get("/")
def index() -> dict[str, str]:
    return {"ok": "yes"}
'''


def test_codemods_chain_on_a_single_module_service(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    host = tmp_path / "svc"
    host.mkdir()
    monkeypatch.chdir(host)  # run from the host's root, as a user does: paths print relative to it
    (host / "main.py").write_text(SINGLE_MODULE)
    result = cli("install", str(host))
    assert result.exit_code == 0, result.output
    assert result.stderr.count("update main.py") == 1
    code = (host / "main.py").read_text()
    for line in ("instrument_engine(engine)", "instrument_celery(jobs)", "app.add_middleware(ParapetMiddleware)"):
        assert f"{line}  # parapet: managed" in code
    compile(code, "main.py", "exec")
    before = tree_hash(host)
    again = cli("install", str(host))
    assert again.exit_code == 0 and "identical main.py" in again.stderr
    assert tree_hash(host) == before


def test_anchors_it_cannot_find_are_notes_with_the_lines(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = tmp_path / "svc"
    host.mkdir()
    (host / "main.py").write_text("from fastapi import FastAPI\n\napp = FastAPI()\n")
    db = "from sqlalchemy import create_engine\n\n\ndef get_engine():\n    return create_engine('sqlite://')\n"
    (host / "db.py").write_text(db)
    (host / "worker.py").write_text("from rq import Worker\n")
    result = cli("install", str(host))
    assert result.exit_code == 0, result.output
    assert (host / "db.py").read_text() == db
    assert "db.py: no anchor found for SQLAlchemy engine instrumentation; add by hand:" in result.stderr
    assert "instrument_engine(engine)  # right after engine = create_engine(...)" in result.stderr
    assert "rq worker -w parapet.metrics.rq.ParapetWorker" in result.stderr
