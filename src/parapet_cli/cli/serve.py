"""``parapet serve`` (the web app under uvicorn, with the background loops) and ``parapet worker`` (the loops
alone, for hosts that mount the app: Starlette runs no lifespan of a mounted app)."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from parapet import conventions
from parapet.errors import ConfigError
from parapet_cli.cli import _render

DEFAULT_SPEC = Path("parapet.yaml")

SpecOption = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        "-s",
        metavar="<file>",
        help="The spec (default: parapet.yaml, if it exists).",
        envvar="PARAPET_SPEC",
    ),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        metavar="<url>",
        envvar=conventions.DATABASE_URL_ENV,
        show_envvar=True,
        help="The store (default: the spec's database.url, else sqlite:///.parapet/parapet.db).",
    ),
]


def _spec_path(spec: Path | None) -> Path | None:
    if spec is None:
        return DEFAULT_SPEC if DEFAULT_SPEC.is_file() else None
    if not spec.is_file():
        raise ConfigError(f"spec file not found: {spec}", hint="pass an existing --spec, or leave it out")
    return spec


def serve(
    host: Annotated[str, typer.Option("--host", metavar="<address>", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="<port>", help="Port to listen on.", min=1, max=65535)] = 8000,
    database_url: DatabaseOption = None,
    spec: SpecOption = None,
    webhook_token_file: Annotated[
        Path | None,
        typer.Option(
            "--webhook-token-file",
            metavar="<file>",
            help="Tokens Alertmanager's webhook may present, one a line (two while rotating); default: the spec's "
            "alertmanager.webhook_token_file, else $PARAPET_WEBHOOK_TOKEN_FILE.",
        ),
    ] = None,
    insecure_local: Annotated[
        bool,
        typer.Option(
            "--insecure-local", help="No authentication at all: only on 127.0.0.1, for a developer's machine."
        ),
    ] = False,
    users_file: Annotated[
        Path | None,
        typer.Option(
            "--users-file",
            metavar="<file>",
            help="The UI's users (`parapet users add` writes it); default: the spec's ui.users_file.",
            envvar="PARAPET_USERS_FILE",
        ),
    ] = None,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            metavar="<cidr>",
            help="A network (CIDR) whose requests may name the UI's user in a header; repeat for more.",
        ),
    ] = None,
    proxy_user_header: Annotated[
        str,
        typer.Option("--proxy-user-header", metavar="<header>", help="The header a trusted proxy names the user in."),
    ] = "X-Forwarded-User",
    proxy_role_header: Annotated[
        str | None,
        typer.Option("--proxy-role-header", metavar="<header>", help="The header a trusted proxy names the role in."),
    ] = None,
    proxy_default_role: Annotated[
        str,
        typer.Option(
            "--proxy-default-role",
            metavar="<viewer|responder|admin>",
            help="The role of a proxied user without a role header.",
        ),
    ] = "viewer",
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run the background loops here (a `parapet worker` runs them).")
    ] = False,
    log_level: Annotated[
        str, typer.Option("--log-level", metavar="<level>", help="uvicorn's log level: debug, info, warning, error.")
    ] = "info",
) -> None:
    """Serve Parapet's web app at /parapet: Alertmanager's webhook, health, the operator UI; with the loops."""
    from parapet.web import serve as runtime
    from parapet.web.identity import TrustedProxies
    from parapet.web.webhook import read_token_file

    tokens = read_token_file(webhook_token_file) if webhook_token_file is not None else ()
    proxies = None
    if trusted_proxy:
        proxies = TrustedProxies.parse(
            trusted_proxy,
            user_header=proxy_user_header,
            role_header=proxy_role_header,
            default_role=proxy_default_role,
        )
    ui_options: dict[str, Any] = {"trusted_proxies": proxies}
    if users_file is not None:
        ui_options["users_file"] = users_file
    app = runtime.server_app(
        spec_path=_spec_path(spec),
        database_url=database_url,
        webhook_tokens=tokens,
        host=host,
        insecure_local=insecure_local,
        run_worker=not no_worker,
        **ui_options,
    )
    if not (insecure_local or runtime.ui_sign_in(app)):
        _render.note(
            "note: the operator UI has no sign-in (every page answers 403): pass --users-file or --trusted-proxy"
        )
    _render.note(f"serving Parapet at http://{host}:{port}{runtime.MOUNT}/ (webhook: {runtime.MOUNT}/webhook)")
    runtime.run(app, host=host, port=port, log_level=log_level)


def worker(
    database_url: DatabaseOption = None,
    spec: SpecOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="One tick (heartbeat and what is due), its result as JSON.")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            metavar="<port>",
            min=1,
            max=65535,
            help="Serve this process's metrics (the probes it ran) for Prometheus on this port.",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", metavar="<address>", help="Address the metrics port listens on.")
    ] = "127.0.0.1",
) -> None:
    """Run the work engine: due jobs, the reconciler (with alertmanager.url) or the staleness marks, the heartbeat."""
    from parapet.alerts.worker import Worker, WorkerConfig
    from parapet.evidence.db import check_schema, create_engine_for, resolve_url
    from parapet.evidence.store import Store
    from parapet.spec import load_spec

    path = _spec_path(spec)
    model = load_spec(path) if path is not None else None
    if database_url is None and model is not None and model.database is not None:
        database_url = model.database.url
    engine = create_engine_for(resolve_url(database_url, Path.cwd()), pool_pre_ping=True)
    try:
        check_schema(engine)
        runner = Worker(Store(engine), WorkerConfig.from_spec(model), spec=model)
        if once:
            sys.stdout.write(json.dumps(runner.tick(), sort_keys=True, default=str) + "\n")
            return
        stop = threading.Event()

        def stop_on(_signum: int, _frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, stop_on)
        signal.signal(signal.SIGINT, stop_on)
        if metrics_port is not None:
            _serve_metrics(metrics_host, metrics_port)
        what = "reconciler" if runner.config.alertmanager.url else "staleness marks"
        kinds = ", ".join(sorted(runner.engine.handlers()))
        _render.note(
            f"parapet worker {runner.config.worker_id}: heartbeat and {what}, jobs of kind {kinds}; "
            "SIGTERM or Ctrl-C stops"
        )
        runner.run(stop)
    finally:
        engine.dispose()


def mcp(
    database_url: DatabaseOption = None,
    spec: SpecOption = None,
) -> None:
    """Serve the read-only MCP server over stdin/stdout, for a local AI agent (docs/mcp.md)."""
    from importlib.util import find_spec

    if find_spec("mcp") is None:
        raise ConfigError(
            "parapet mcp needs the mcp package, which is not installed", hint="pip install 'parapet[mcp]'"
        )
    from parapet.mcp.stdio import open_reader, serve
    from parapet.spec import load_spec

    path = _spec_path(spec)
    model = load_spec(path) if path is not None else None
    reader = open_reader(model, database_url, root=Path.cwd())
    _render.note("parapet mcp: the incident store, read-only, over stdio; the client closing stdin stops it")
    serve(reader)


def _serve_metrics(host: str, port: int) -> None:
    """The process's registry (OpenMetrics when asked) on host:port, in a daemon thread of prometheus_client."""
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        raise ConfigError(
            f"--metrics-port {port} on {host}: {exc.strerror or exc}", hint="pick a free port, or leave it out"
        ) from None
    _render.note(f"metrics at http://{host}:{port}/metrics")
