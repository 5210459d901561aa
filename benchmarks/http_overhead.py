"""Per-request overhead of Parapet's ASGI middleware next to prometheus-fastapi-instrumentator.

    python benchmarks/http_overhead.py [--requests 10000] [--rounds 5]

The same FastAPI app is built three times: bare, with ``ParapetMiddleware``, and with
``Instrumentator().instrument(app)`` (its defaults). Each is driven in-process through its ASGI interface
(no sockets, so the figures are the instrumentation's cost, not the network's), with a mix of templated
routes, an unmatched path and a POST. Rounds alternate between the apps; the table shows the median
microseconds per request and the overhead over the bare app, and the last line the ratio of Parapet's
overhead to the instrumentator's (at most 1 is the target).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator

from parapet.metrics.asgi import ParapetMiddleware

Message = dict[str, Any]
ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/users/{user_id}/orders/{order_id}")
    async def get_order(user_id: int, order_id: int) -> dict[str, int]:
        return {"user_id": user_id, "order_id": order_id}

    @app.post("/orders", status_code=201)
    async def create_order() -> dict[str, str]:
        return {"status": "created"}

    @app.get("/health")
    async def health() -> str:
        return "ok"

    return app


def bare() -> FastAPI:
    return build_app()


def parapet() -> FastAPI:
    app = build_app()
    app.add_middleware(ParapetMiddleware, registry=CollectorRegistry())
    return app


def instrumentator() -> FastAPI:
    app = build_app()
    Instrumentator(registry=CollectorRegistry()).instrument(app)
    return app


REQUESTS = [
    ("GET", "/items/{i}"),
    ("GET", "/users/{i}/orders/{j}"),
    ("POST", "/orders"),
    ("GET", "/health"),
    ("GET", "/missing/{i}"),
]


def _scope(method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }


async def drive(app: ASGIApp, count: int) -> float:
    """Seconds for ``count`` requests, one after another."""
    request: Message = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> Message:
        return request

    async def send(message: Message) -> None:
        return None

    scopes = [
        _scope(method, template.format(i=n, j=n * 7)) for n in range(count) for method, template in [REQUESTS[n % 5]]
    ]
    start = time.perf_counter()
    for scope in scopes:
        await app(scope, receive, send)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    apps: dict[str, ASGIApp] = {"bare": bare(), "parapet": parapet(), "instrumentator": instrumentator()}
    timings: dict[str, list[float]] = {name: [] for name in apps}

    async def run() -> None:
        for app in apps.values():  # warm up: route compilation, first metric children
            await drive(app, min(2_000, args.requests))
        for _ in range(args.rounds):
            for name, app in apps.items():
                seconds = await drive(app, args.requests)
                timings[name].append(seconds / args.requests * 1e6)

    asyncio.run(run())
    per_request = {name: statistics.median(values) for name, values in timings.items()}
    base = per_request["bare"]
    print(f"{args.requests} requests x {args.rounds} rounds, in-process ASGI, Python {sys.version.split()[0]}")
    print(f"{'app':<16} {'us/request':>11} {'overhead us':>12}")
    for name, micro in per_request.items():
        overhead = "" if name == "bare" else f"{micro - base:12.2f}"
        print(f"{name:<16} {micro:11.2f} {overhead}")
    parapet_overhead = per_request["parapet"] - base
    instrumentator_overhead = per_request["instrumentator"] - base
    ratio = parapet_overhead / instrumentator_overhead if instrumentator_overhead > 0 else float("inf")
    print(f"parapet / instrumentator overhead: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
