"""Parapet's ASGI app: Alertmanager's webhook, health, the read-only MCP endpoint and the operator UI.

    from parapet.web import create_app, lifespan
    parapet_app = create_app(spec_path="parapet.yaml")
    app.mount("/parapet", parapet_app)                # FastAPI / Starlette host
    # and, in the host's lifespan: async with lifespan(parapet_app): yield   (the MCP endpoint needs it)

Its routes are relative (``/webhook``, ``/healthz``, ``/mcp``, the UI at ``/``): mount it at ``/parapet`` so
Alertmanager's URL is the one ``parapet install`` wrote. ``parapet serve`` mounts it there itself.
"""

from __future__ import annotations

from parapet.web.app import ROUTE_GROUPS, WebSettings, create_app, lifespan, settings_of

__all__ = ["ROUTE_GROUPS", "WebSettings", "create_app", "lifespan", "settings_of"]
