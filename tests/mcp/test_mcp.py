"""The read-only MCP server, driven by the SDK's real client over streamable HTTP (a real uvicorn) and over
stdio (a real ``parapet mcp`` process), on SQLite and on PostgreSQL.

What must hold: every tool is listed with the read-only annotation and answers; no token is 401; a limit of
10,000 returns at most 100; an unknown or archived id is a tool error and the session goes on; a write
through the server's own connection is refused by the database; Host and Origin are checked.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.routing import Mount

import parapet.web
from mcp import Client, StdioServerParameters
from parapet.evidence import Alert, Store
from parapet.evidence.archive import ArchiveOptions, run_archive
from parapet.evidence.schema import incidents, timeline_entries
from parapet.mcp.http import MCPEndpoint
from parapet.mcp.server import TOOLS
from parapet.web import create_app
from tests.mcp.conftest import TOKEN, served
from tests.web.helpers import NOW, Clock

TOOL_NAMES = {"list_incidents", "get_incident", "get_timeline", "get_retrospective", "list_changes", "get_slo_status"}
ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def http_client(url: str, token: str | None = TOKEN) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{url}/parapet/mcp", http_client=http)) as client,
    ):
        yield client


def body(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    answer: dict[str, Any] = json.loads(result.content[0].text)
    assert result.structured_content == answer
    return answer


def host(spec_file: Path, **options: Any) -> Starlette:
    """A host that mounts Parapet at /parapet and runs its lifespan, as docs/mcp.md tells it to."""
    parapet_app = create_app(spec_path=spec_file, **options)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with parapet.web.lifespan(parapet_app):
            yield

    return Starlette(routes=[Mount("/parapet", app=parapet_app)], lifespan=lifespan)


async def call_every_tool(client: Client, ids: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Each tool once, on the seeded incidents; the answers by tool name."""
    listed = await client.list_tools()
    assert {t.name for t in listed.tools} == TOOL_NAMES
    for tool in listed.tools:
        assert tool.annotations is not None and tool.annotations.read_only_hint is True, tool.name
        assert tool.annotations.destructive_hint is False, tool.name
    checkout = ids["checkout"]
    return {
        "list_incidents": body(await client.call_tool("list_incidents", {})),
        "get_incident": body(await client.call_tool("get_incident", {"incident_id": checkout})),
        "get_timeline": body(await client.call_tool("get_timeline", {"incident_id": ids["hostile"]})),
        "get_retrospective": body(await client.call_tool("get_retrospective", {"incident_id": checkout})),
        "list_changes": body(
            await client.call_tool(
                "list_changes", {"since": (NOW - timedelta(hours=1)).isoformat(), "until": NOW.isoformat()}
            )
        ),
        "get_slo_status": body(await client.call_tool("get_slo_status", {})),
    }


def check_answers(answers: dict[str, dict[str, Any]], ids: dict[str, int]) -> None:
    queue = answers["list_incidents"]
    assert [i["id"] for i in queue["incidents"]][:1] == [ids["checkout"]]  # critical first
    assert ids["resolved"] not in {i["id"] for i in queue["incidents"]}  # active only by default
    incident = answers["get_incident"]
    assert incident["title"] == "checkout availability SLO burning 14x"
    assert incident["links"]["runbook"] == "https://runbooks.example.com/checkout"
    assert incident["links"]["trace"] == "https://tempo.example.com/trace/4bf92f3577b34da6a3ce929d0e0e4736"
    suspects = {c["message"] for c in incident["suspect_changes"]}
    assert suspects == {"checkout v2.31.0 (a1b2c3d)", "new-pricing on"}  # not the other service's deploy
    timeline = answers["get_timeline"]
    assert [e["kind"] for e in timeline["entries"]] == ["note", "opened"]  # newest first
    assert answers["get_retrospective"]["markdown"].startswith(f"# Incident {ids['checkout']}: ")
    changes = answers["list_changes"]["changes"]
    assert {c["kind"] for c in changes} == {"deploy", "flag"} and len(changes) == 3
    slos = answers["get_slo_status"]
    assert slos["service"] == "checkout" and slos["prometheus"] is False
    assert slos["slos"][0]["name"] == "availability" and slos["slos"][0]["objective_percent"] == "99.9"


def test_http_client_lists_and_calls_every_tool(spec_file: Path, seeded: dict[str, int]) -> None:
    async def main() -> None:
        with served(host(spec_file)) as url:
            async with http_client(url) as client:
                check_answers(await call_every_tool(client, seeded), seeded)
                resources = await client.list_resources()
                assert {str(r.uri) for r in resources.resources} == {"parapet://spec", "parapet://runbooks"}
                spec = await client.read_resource("parapet://spec")
                assert "service: checkout" in spec.contents[0].text
                runbooks = json.loads((await client.read_resource("parapet://runbooks")).contents[0].text)
                assert runbooks["runbooks"][0]["runbook_url"] == "https://runbooks.example.com/availability"
                assert runbooks["declared"][0]["name"] == "checkout-5xx"
                assert runbooks["declared"][0]["steps"][0]["text"] == "Check the last deploy first."

    anyio.run(main)


def test_stdio_client_lists_and_calls_every_tool(spec_file: Path, seeded: dict[str, int]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PARAPET_DATABASE_URL": ""}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "parapet_cli", "mcp", "--spec", str(spec_file)], env=env
    )

    async def main() -> None:
        async with Client(params) as client:
            check_answers(await call_every_tool(client, seeded), seeded)
            missing = await client.call_tool("get_incident", {"incident_id": 999_999})
            assert missing.is_error and "incident 999999 does not exist" in missing.content[0].text

    anyio.run(main)


def test_limits_unknown_and_archived_ids(
    spec_file: Path, store: Store, seeded: dict[str, int], clock: Clock, tmp_path: Path
) -> None:
    for n in range(105):
        store.open_or_touch(Alert(correlation_key=f"bulk/{n}", alert_name="Bulk", severity="warning", title=f"b{n}"))
    run_archive(
        store.engine, ArchiveOptions(older_than=timedelta(hours=1), archive_file=tmp_path / "a.jsonl"), clock=clock
    )

    async def main() -> None:
        with served(host(spec_file)) as url:
            async with http_client(url) as client:
                page = body(await client.call_tool("list_incidents", {"limit": 10_000}))
                assert len(page["incidents"]) == 100 and page["limit"] == 100 and page["next_cursor"]
                rest = body(await client.call_tool("list_incidents", {"limit": 10_000, "cursor": page["next_cursor"]}))
                assert len(rest["incidents"]) == 108 - 100 and rest["next_cursor"] is None
                timeline = body(
                    await client.call_tool("get_timeline", {"incident_id": seeded["checkout"], "limit": 10**6})
                )
                assert timeline["limit"] == 100
                for tool in ("get_incident", "get_timeline", "get_retrospective"):
                    for gone in (seeded["resolved"], 424_242):  # archived, never existed
                        result = await client.call_tool(tool, {"incident_id": gone})
                        assert result.is_error, (tool, gone)
                        assert f"incident {gone} does not exist" in result.content[0].text
                        assert "archived" in result.content[0].text
                bad = await client.call_tool("list_incidents", {"cursor": "not-a-cursor"})
                assert bad.is_error and "invalid queue cursor" in bad.content[0].text
                wrong = await client.call_tool("get_incident", {"incident_id": "seven"})
                assert wrong.is_error and "incident_id" in wrong.content[0].text
                extra = await client.call_tool("list_incidents", {"drop": "table"})
                assert extra.is_error and "drop" in extra.content[0].text
                # the session is still there after every error
                assert (
                    body(await client.call_tool("get_incident", {"incident_id": seeded["search"]}))["slo"] == "latency"
                )

    anyio.run(main)


def test_without_a_token_401_and_host_origin_checks(spec_file: Path, seeded: dict[str, int]) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    with served(host(spec_file)) as url:
        endpoint = f"{url}/parapet/mcp"
        none = httpx2.post(endpoint, json=initialize, headers=headers)
        assert none.status_code == 401 and "Bearer" in none.headers["www-authenticate"]
        wrong = httpx2.post(endpoint, json=initialize, headers={**headers, "Authorization": "Bearer nope-nope-nope"})
        assert wrong.status_code == 401
        good = {**headers, "Authorization": f"Bearer {TOKEN}"}
        assert httpx2.post(endpoint, json=initialize, headers=good).status_code == 200
        rebinding = httpx2.post(endpoint, json=initialize, headers={**good, "Host": "evil.example.com"})
        assert rebinding.status_code == 421
        cross = httpx2.post(endpoint, json=initialize, headers={**good, "Origin": "http://evil.example.com"})
        assert cross.status_code == 403
        same = httpx2.post(endpoint, json=initialize, headers={**good, "Origin": url})
        assert same.status_code == 200


def test_no_credentials_configured_is_401_and_an_unstarted_endpoint_is_503(
    tmp_path: Path, store: Store, seeded: dict[str, int]
) -> None:
    bare = Starlette(routes=[Mount("/parapet", app=create_app(spec_path=None, store=store))])
    with served(bare) as url:
        answer = httpx2.post(f"{url}/parapet/mcp", json={}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 401 and "no credentials configured" in answer.json()["error"]
    # Mounted without running Parapet's lifespan: Starlette does not run a mounted app's lifespan.
    forgot = Starlette(routes=[Mount("/parapet", app=create_app(spec_path=None, store=store, mcp_tokens=[TOKEN]))])
    with served(forgot) as url:
        answer = httpx2.post(f"{url}/parapet/mcp", json={}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 503 and "parapet.web.lifespan" in answer.json()["hint"]


def _endpoint(app: Starlette) -> MCPEndpoint:
    for route in app.routes:
        if getattr(route, "path", None) == "/mcp":
            endpoint: MCPEndpoint = route.app  # type: ignore[attr-defined]
            return endpoint
    raise AssertionError("no /mcp route")


def test_a_write_through_the_servers_connection_is_refused(spec_file: Path, seeded: dict[str, int]) -> None:
    endpoint = _endpoint(create_app(spec_path=spec_file))
    assert endpoint.reader is not None
    engine = endpoint.reader.store.engine
    row = {
        "correlation_key": "x",
        "alert_name": "X",
        "severity": "info",
        "severity_rank": 20,
        "state": "open",
        "title": "x",
        "labels": {},
        "annotations": {},
        "opened_at": NOW,
        "opened_by": "t",
        "last_seen_at": NOW,
        "occurrence_count": 1,
        "updated_at": NOW,
        "version": 1,
    }
    writes = [
        lambda conn: conn.execute(insert(incidents).values(**row)),
        lambda conn: conn.execute(text(f"UPDATE {incidents.name} SET title = 'changed'")),
        lambda conn: conn.execute(text(f"DELETE FROM {timeline_entries.name}")),
    ]
    for write in writes:
        with pytest.raises(DBAPIError) as refused, engine.begin() as conn:
            write(conn)
        assert "read-only" in str(refused.value) or "readonly" in str(refused.value)
    # the store's own commands fail the same way, also in autocommit (how the store reads on PostgreSQL)
    with pytest.raises(DBAPIError):
        Store(engine).add_note(seeded["checkout"], actor="agent", text="I was here")
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        with pytest.raises(DBAPIError):
            conn.execute(text(f"UPDATE {incidents.name} SET title = 'changed'"))
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {incidents.name} WHERE title = 'changed'")).scalar() == 0
    engine.dispose()


def test_every_tool_is_annotated_read_only() -> None:
    for spec in TOOLS:
        annotations = spec.tool.annotations
        assert annotations is not None and annotations.read_only_hint is True, spec.name
        assert annotations.destructive_hint is False, spec.name
        assert spec.tool.input_schema["type"] == "object" and spec.tool.input_schema["additionalProperties"] is False


def test_a_store_that_cannot_be_read_is_a_tool_error(tmp_path: Path) -> None:
    """No database file yet (the read-only connection never creates one): each call is a tool error, no crash."""
    missing = f"sqlite:///{tmp_path / 'not-yet' / 'parapet.db'}"
    app = create_app(spec_path=None, database_url=missing, mcp_tokens=[TOKEN])
    parapet_host = Starlette(routes=[Mount("/parapet", app=app)], lifespan=lambda _app: parapet.web.lifespan(app))

    async def main() -> None:
        with served(parapet_host) as url:
            async with http_client(url) as client:
                for _ in range(2):
                    result = await client.call_tool("list_incidents", {})
                    assert result.is_error and "the incident store is unavailable" in result.content[0].text

    anyio.run(main)
