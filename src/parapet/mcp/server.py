"""The MCP server: six read-only tools and two resources over a ``Reader``, on the SDK's low-level ``Server``.

    build_server(reader)   an ``mcp.server.lowlevel.Server`` (the SDK's 2.x constructor-based API); the
                           stdio command and the HTTP endpoint serve the same one

Tools (every one annotated ``readOnlyHint``, none destructive; arguments validated by a pydantic model
whose JSON schema is the tool's input schema; unknown arguments refused):

    list_incidents  get_incident  get_timeline  get_retrospective  list_changes  get_slo_status

Resources: ``parapet://spec`` (the spec file, secrets masked) and ``parapet://runbooks`` (each SLO's
runbook and dashboard links).

A tool that cannot answer (an unknown or archived incident id, a bad cursor, no spec) returns a tool
error: ``isError`` with one line and its hint, never a crash of the session. A database that is down is
a tool error too ("the incident store is unavailable: …", password never shown). Anything else is logged
once, with its traceback, on the server's side; the caller gets one line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Final

import mcp_types as types
from anyio import to_thread
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from parapet import __version__
from parapet.errors import UserError
from parapet.evidence.db import describe_error
from parapet.mcp.reader import MAX_LIMIT, Reader

log = logging.getLogger("parapet.mcp")

SERVER_NAME: Final = "parapet"
SPEC_URI: Final = "parapet://spec"
RUNBOOKS_URI: Final = "parapet://runbooks"
INSTRUCTIONS: Final = (
    "Parapet's incident store, read-only. Start with list_incidents (the operator queue: open before "
    "acknowledged, most severe first), then get_incident for one incident with its suspect changes, "
    "get_timeline for what happened, get_retrospective for the Markdown review. list_changes lists deploys "
    "and flag changes in a window; get_slo_status reports the SLOs and, with Prometheus, their burn rates. "
    "Nothing here can change an incident."
)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


Limit = Field(
    None,
    ge=1,
    description=f"how many items to return; at most {MAX_LIMIT} (a larger value is capped, not refused)",
)
Cursor = Field(None, description="the next_cursor of the previous answer, to read the next page")
IncidentId = Field(ge=1, description="the incident's id (from list_incidents)")


class ListIncidentsArgs(_Args):
    state: str = Field("active", description="active (open and acknowledged), open, acknowledged, resolved or all")
    service: str | None = Field(None, description="only this service's incidents")
    severity: str | None = Field(None, description="only this severity (critical, warning, ...)")
    limit: int | None = Limit
    cursor: str | None = Cursor


class IncidentArgs(_Args):
    incident_id: int = IncidentId


class TimelineArgs(_Args):
    incident_id: int = IncidentId
    limit: int | None = Limit
    cursor: str | None = Cursor


class ListChangesArgs(_Args):
    since: str | None = Field(
        None, description="start: ISO 8601, or a duration before now (30m, 2h, 1d); default one hour before until"
    )
    until: str | None = Field(None, description="end: ISO 8601, or a duration before now; default now")
    service: str | None = Field(None, description="this service's changes (and those of no particular service)")
    kind: str | None = Field(None, description="only this kind of change (deploy, flag_change, ...)")
    limit: int | None = Limit
    cursor: str | None = Cursor


class SLOStatusArgs(_Args):
    slo: str | None = Field(None, description="one SLO by name; default all of the spec's")


Handler = Callable[[Reader, Any], Any]


class ToolSpec:
    """One tool: its name, what it does, its arguments' model and the Reader call that answers it."""

    def __init__(
        self, name: str, title: str, description: str, args: type[_Args], call: Handler, *, open_world: bool = False
    ) -> None:
        self.name = name
        self.args = args
        self.call = call
        self.tool = types.Tool(
            name=name,
            title=title,
            description=description,
            input_schema=_schema(args),
            annotations=types.ToolAnnotations(
                title=title,
                read_only_hint=True,
                destructive_hint=False,
                idempotent_hint=True,
                open_world_hint=open_world,
            ),
        )


def _schema(args: type[_Args]) -> dict[str, Any]:
    schema = args.model_json_schema()
    schema.pop("title", None)
    return schema


TOOLS: Final = (
    ToolSpec(
        "list_incidents",
        "List incidents",
        "Incidents in the operator queue's order (open before acknowledged, most severe first, newest first), "
        f"filtered by state, service and severity; at most {MAX_LIMIT} per call, pages through next_cursor.",
        ListIncidentsArgs,
        lambda r, a: r.list_incidents(
            state=a.state, service=a.service, severity=a.severity, limit=a.limit, cursor=a.cursor
        ),
    ),
    ToolSpec(
        "get_incident",
        "Get an incident",
        "One incident: state, severity, times, labels, annotations, runbook/dashboard/trace links, alert "
        "instances, related incidents and the suspect changes (deploys, flag changes) of the hour before it opened.",
        IncidentArgs,
        lambda r, a: r.get_incident(a.incident_id),
    ),
    ToolSpec(
        "get_timeline",
        "Get an incident's timeline",
        "What happened to an incident, newest first: who (people and system identities) did what, when.",
        TimelineArgs,
        lambda r, a: r.get_timeline(a.incident_id, limit=a.limit, cursor=a.cursor),
    ),
    ToolSpec(
        "get_retrospective",
        "Get an incident's retrospective",
        "The incident's retrospective as Markdown: summary, time to acknowledge and resolve, actors, suspect "
        "changes, the whole timeline.",
        IncidentArgs,
        lambda r, a: r.get_retrospective(a.incident_id),
    ),
    ToolSpec(
        "list_changes",
        "List changes",
        "System events (deploys, feature-flag changes) in a time window, newest first.",
        ListChangesArgs,
        lambda r, a: r.list_changes(
            since=a.since, until=a.until, service=a.service, kind=a.kind, limit=a.limit, cursor=a.cursor
        ),
    ),
    ToolSpec(
        "get_slo_status",
        "Get SLO status",
        "The service's SLOs from its spec (objective, period, error budget, alert windows) and, when Prometheus "
        "is configured, each window's live error ratio and burn rate, which alert pairs burn now, budget left.",
        SLOStatusArgs,
        lambda r, a: r.get_slo_status(slo=a.slo),
        open_world=True,
    ),
)
TOOLS_BY_NAME: Final = {t.name: t for t in TOOLS}

RESOURCES: Final = (
    types.Resource(
        uri=SPEC_URI,
        name="spec",
        title="The service's parapet.yaml",
        description="The spec Parapet runs with (SLOs, alerting, runbook links), secrets masked.",
        mime_type="application/yaml",
    ),
    types.Resource(
        uri=RUNBOOKS_URI,
        name="runbooks",
        title="Runbooks",
        description="Each SLO's alert, runbook and dashboard links, from the spec.",
        mime_type="application/json",
    ),
)


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def _user_message(exc: UserError) -> str:
    return f"{exc.message} (hint: {exc.hint})" if exc.hint else exc.message


def call(reader: Reader, name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
    """Run one tool synchronously (the server runs this in a worker thread): its answer, or a tool error."""
    spec = TOOLS_BY_NAME.get(name)
    if spec is None:
        return _error(f"unknown tool {name[:80]!r}; the tools are {', '.join(TOOLS_BY_NAME)}")
    try:
        args = spec.args.model_validate(arguments or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in exc.errors()[:5]
        )
        return _error(f"invalid arguments for {name}: {problems}")
    try:
        body = spec.call(reader, args)
    except UserError as exc:
        return _error(_user_message(exc))
    except SQLAlchemyError as exc:
        reason = describe_error(exc, reader.store.engine.url)
        log.warning("mcp %s: the incident store is unavailable: %s", name, reason)
        return _error(f"the incident store is unavailable: {reason}")
    except Exception:
        log.exception("mcp %s failed", name)
        return _error(f"{name} failed on the server (its log has the details)")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(body, ensure_ascii=False, sort_keys=True))],
        structured_content=body,
    )


def read(reader: Reader, uri: str) -> types.ReadResourceResult:
    """One resource's contents (run in a worker thread); an unknown URI is the protocol's invalid-params error."""
    try:
        if uri == SPEC_URI:
            return types.ReadResourceResult(
                contents=[types.TextResourceContents(uri=uri, text=reader.spec_text(), mime_type="application/yaml")]
            )
        if uri == RUNBOOKS_URI:
            body = json.dumps(reader.runbooks(), ensure_ascii=False, sort_keys=True, indent=2)
            return types.ReadResourceResult(
                contents=[types.TextResourceContents(uri=uri, text=body, mime_type="application/json")]
            )
    except UserError as exc:
        raise MCPError(code=types.INVALID_PARAMS, message=_user_message(exc)) from None
    raise MCPError(code=types.INVALID_PARAMS, message=f"unknown resource {uri[:200]!r}")


def build_server(reader: Reader) -> Server[Any]:
    """The MCP server over ``reader`` (whose store must be on a read-only engine)."""

    async def list_tools(
        _ctx: ServerRequestContext[Any], _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[t.tool for t in TOOLS])

    async def call_tool(_ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        return await to_thread.run_sync(call, reader, params.name, params.arguments)

    async def list_resources(
        _ctx: ServerRequestContext[Any], _params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=list(RESOURCES))

    async def read_resource(
        _ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        return await to_thread.run_sync(read, reader, str(params.uri))

    return Server(
        SERVER_NAME,
        version=__version__,
        title="Parapet",
        instructions=INSTRUCTIONS,
        get_tool_input_schema=lambda name: TOOLS_BY_NAME[name].tool.input_schema if name in TOOLS_BY_NAME else None,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )
