"""Parapet's read-only MCP server, for AI agents that triage incidents.

    parapet.mcp.reader   the reads: incidents, timelines, retrospectives, changes, SLO status (plain JSON)
    parapet.mcp.redact   secrets masked, sizes bounded, before anything leaves the server
    parapet.mcp.server   the MCP server (the SDK's low-level ``Server``): tools and resources, all read-only
    parapet.mcp.http     ``/parapet/mcp`` in the web app: streamable HTTP, stateless, bearer tokens
    parapet.mcp.stdio    ``parapet mcp``: the same server over stdin/stdout

Read-only for real: every tool carries ``readOnlyHint``, and the store is opened through a read-only
connection (SQLite ``mode=ro``, PostgreSQL ``default_transaction_read_only``), so even a bug could not write.
The ``mcp`` SDK is an extra (``pip install 'parapet[mcp]'``); only ``server``, ``http`` (when configured) and
``stdio`` import it.
"""
