"""Parapet's ASGI app: Alertmanager's webhook, health, and the operator UI.

    from parapet.web import create_app
    app.mount("/parapet", create_app(spec_path="parapet.yaml"))   # FastAPI / Starlette host

Its routes are relative (``/webhook``, ``/healthz``, the UI at ``/``): mount it at ``/parapet`` so
Alertmanager's URL is the one ``parapet install`` wrote. ``parapet serve`` mounts it there itself.
"""

from __future__ import annotations

from parapet.web.app import ROUTE_GROUPS, WebSettings, create_app, settings_of

__all__ = ["ROUTE_GROUPS", "WebSettings", "create_app", "settings_of"]
