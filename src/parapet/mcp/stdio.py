"""``parapet mcp``: the read-only MCP server over stdin and stdout, for a local agent (Claude Desktop, an IDE).

    open_reader(spec, database_url)   the Reader over a read-only engine: the spec's ``database.url`` when
                                      no URL is given, then ``$PARAPET_DATABASE_URL``, then the SQLite file;
                                      refuses (DatabaseUnavailable, SpineMissing) before anything is served
    serve(reader)                     serve one client until stdin closes

stdout carries the protocol only; logs go to stderr.
"""

from __future__ import annotations

from pathlib import Path

import anyio

from parapet.evidence.db import check_schema, check_sqlite_file, create_engine_for, resolve_url
from parapet.evidence.store import Store
from parapet.mcp.reader import Reader
from parapet.spec.model import Spec
from parapet.web.webhook import Credentials, TokenFileError


def open_reader(spec: Spec | None, database_url: str | None, *, root: Path | None = None) -> Reader:
    url = database_url or (spec.database.url if spec is not None and spec.database is not None else None)
    resolved = resolve_url(url, root)
    check_sqlite_file(resolved)
    engine = create_engine_for(resolved, read_only=True)  # no ping on checkout: see parapet.mcp.http
    try:
        check_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return Reader.for_spec(Store(engine), spec, secrets=_known_tokens(spec))


def _known_tokens(spec: Spec | None) -> tuple[str, ...]:
    """The webhook's and MCP's tokens the spec points at (masked in every answer), where readable."""
    found: list[str] = []
    paths = (spec.alertmanager.webhook_token_file, spec.mcp.token_file) if spec is not None else ()
    for path in paths:
        if path is None:
            continue
        try:
            found.extend(Credentials(path=path).tokens())
        except TokenFileError:
            continue
    return tuple(found)


async def _serve(reader: Reader) -> None:
    from mcp.server.stdio import stdio_server

    from parapet.mcp.server import build_server

    server = build_server(reader)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def serve(reader: Reader) -> None:
    """Serve over stdio until the client closes stdin; the engine is disposed afterwards."""
    try:
        anyio.run(_serve, reader)
    finally:
        reader.store.engine.dispose()
