"""A small host project for the runbook tests: a package of mitigations beside a parapet.yaml that declares
runbooks over them, on real databases (a SQLite file, a private PostgreSQL schema)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from parapet.evidence import hooks
from parapet.evidence.store import Alert, Store
from parapet.spec import load_spec
from parapet.spec.model import Spec
from tests.evidence.conftest import Database, postgres_db, sqlite_db  # noqa: F401
from tests.web.helpers import Clock

SECRET_VALUE = "tok-7f3a9c-SECRET-do-not-leak"

OPS = """\
import os
import time


def _ledger(line: str) -> None:
    with open(os.environ["RB_LEDGER"], "a", encoding="utf-8") as out:
        out.write(line + "\\n")


def restart_workers(queue: str, count: int, token: str) -> dict:
    print(f"restarting {count} workers of {queue} with token {token}")
    _ledger(f"restart {queue} {count}")
    return {"restarted": count}


def hang(seconds: int = 60) -> None:
    _ledger("hang")
    time.sleep(seconds)


def boom(token: str) -> None:
    print(f"calling the provider with {token}")
    raise RuntimeError(f"the provider refused token {token}")


def quick() -> str:
    _ledger("quick")
    return "ok"
"""

SPEC = """\
version: parapet/v1
service: shop
alerting:
  runbook_url: https://ops.example.com/parapet/runbooks/{{service}}/{{slo}}
slos:
  - name: availability
    objective: 99.9
    sli:
      http: {{}}
runbooks:
  - name: payments
    title: Payments queue stalled
    match: {{alert: PaymentsStalled}}
    steps:
      - guidance: |
          Check the **payments** queue first. <script>alert("x")</script>
      - link: {{title: Flower, url: "https://flower.example.com/queues/{{labels.queue}}"}}
      - mitigation:
          name: restart-workers
          title: Restart the payment workers
          python: {pkg}.ops:restart_workers
          description: Restarts the workers of the queue, **once**.
          parameters:
            queue: {{default: "{{labels.queue}}"}}
            count: {{type: integer, default: 2, minimum: 1, maximum: 10}}
            token: {{secret: true, env: RB_TOKEN}}
          timeout: 20s
          auto: {auto}
          breaker: {{max_runs: 3, window: 1h, quiet: 30m}}
      - mitigation:
          name: hang
          python: "{pkg}.ops:hang"
          timeout: 8s
          parameters: {{seconds: {{type: integer, default: 30}}}}
      - mitigation: {{name: boom, python: "{pkg}.ops:boom", parameters: {{token: {{secret: true, env: RB_TOKEN}}}}}}
      - mitigation: {{name: quick, python: "{pkg}.ops:quick"}}
"""


@dataclass
class Host:
    root: Path
    package: str
    ledger: Path

    @property
    def spec_path(self) -> Path:
        return self.root / "parapet.yaml"

    def spec(self) -> Spec:
        return load_spec(self.spec_path)

    def executions(self) -> list[str]:
        return self.ledger.read_text().splitlines() if self.ledger.exists() else []


def make_host(root: Path, *, auto: bool = False, spec: str = SPEC) -> Host:
    package = f"rbhost_{uuid.uuid4().hex[:8]}"
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    (root / package / "ops.py").write_text(OPS)
    (root / "parapet.yaml").write_text(spec.format(pkg=package, auto="true" if auto else "false"))
    return Host(root, package, root / "ledger.txt")


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    made = make_host(tmp_path / "host")
    monkeypatch.setenv("RB_LEDGER", str(made.ledger))
    monkeypatch.setenv("RB_TOKEN", SECRET_VALUE)
    yield made
    sys.modules.pop(f"{made.package}.ops", None)
    sys.modules.pop(made.package, None)
    hooks.unsubscribe("runbooks")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Database:
    name = "sqlite_db" if request.param == "sqlite" else "postgres_db"
    db: Database = request.getfixturevalue(name)
    return db


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(database: Database) -> Iterator[Engine]:
    eng = database.create_all()
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def store(engine: Engine, clock: Clock) -> Store:
    return Store(engine, clock=clock)


def stalled(queue: str = "payments", **labels: str) -> Alert:
    return Alert(
        correlation_key=f"PaymentsStalled/{queue}",
        alert_name="PaymentsStalled",
        severity="critical",
        title=f"payments queue {queue} stalled",
        service="shop",
        labels={"queue": queue, **labels},
    )
