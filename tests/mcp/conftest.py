"""The MCP server on real databases (a SQLite file, a private PostgreSQL schema), served by a real uvicorn on
a free loopback port, and driven by the SDK's own client."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.evidence.conftest import Database, postgres_db, sqlite_db  # noqa: F401

# The same database/clock/store/seeded fixtures as the UI tests: each test runs on SQLite and PostgreSQL.
from tests.web.conftest import clock, database, seeded, store  # noqa: F401

TOKEN = "mcp-test-token-0123456789abcdef"
SPEC = """\
version: parapet/v1
service: checkout
database:
  url: {url}
alertmanager:
  webhook_token_file: webhook-token
mcp:
  token_file: mcp-token
ui:
  trace_url: https://tempo.example.com/trace/{{trace_id}}
alerting:
  runbook_url: https://runbooks.example.com/{{slo}}
slos:
  - name: availability
    objective: 99.9
    sli:
      http: {{}}
runbooks:
  - name: checkout-5xx
    title: Checkout errors
    match: {{slo: availability}}
    steps:
      - guidance: Check the last deploy first.
{prometheus}"""


@pytest.fixture
def spec_file(tmp_path: Path, database: Database) -> Path:  # noqa: F811 - the imported fixture, requested
    """A spec next to its token files (MCP's and the webhook's), pointing at the test's database."""
    (tmp_path / "mcp-token").write_text(f"# the MCP client's token\n{TOKEN}\n")
    (tmp_path / "webhook-token").write_text("webhook-secret-token-abcdef123456\n")
    path = tmp_path / "parapet.yaml"
    path.write_text(SPEC.format(url=database.url, prometheus=""))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` under a real uvicorn on 127.0.0.1 (lifespan on), stopped afterwards; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
