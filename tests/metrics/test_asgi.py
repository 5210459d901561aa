"""ASGI middleware on a real FastAPI app: route templates, streaming, exceptions, and the /metrics app."""

from __future__ import annotations

import asyncio
import base64

import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from parapet.metrics import metrics_asgi_app
from parapet.metrics.asgi import ParapetMiddleware
from tests.metrics.asgi_driver import call
from tests.metrics.hosts import import_host
from tests.metrics.scrape import HTTP_FAMILIES, assert_contract, families, parapet_families, scrape, series, total

# starlette's TestClient warns that it will move from httpx to httpx2; the client itself works unchanged.
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated")

shop = import_host("fastapi_shop", "shop_fastapi")
COUNT = "http_server_request_duration_seconds_count"
SUM = "http_server_request_duration_seconds_sum"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def client(registry: CollectorRegistry) -> TestClient:
    return TestClient(shop.create_app(registry), raise_server_exceptions=False)


def test_host_exposes_exactly_the_contract_through_its_test_client() -> None:
    """The fixture host as a host runs it: prometheus_client's default registry, /metrics scraped."""
    client = TestClient(shop.app, raise_server_exceptions=False)
    before = families(client.get("/metrics").text)
    assert client.get("/items/7").status_code == 200
    assert client.post("/orders").status_code == 201
    assert client.get("/nope/7").status_code == 404
    assert client.get("/boom").status_code == 500
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = families(response.text)
    assert_contract(found, HTTP_FAMILIES)
    assert parapet_families(found) <= {
        *HTTP_FAMILIES,
        "db_client_operation_duration_seconds",
        "parapet_job_duration_seconds",
        "parapet_job_queue_wait_seconds",
        "parapet_job_last_success_timestamp_seconds",
    }
    delta = {
        key: total(found, COUNT, **labels) - total(before, COUNT, **labels)
        for key, labels in {
            "item": {"http_route": "/items/{item_id}", "http_response_status_code": "200", "error_type": ""},
            "order": {"http_route": "/orders", "http_request_method": "POST", "http_response_status_code": "201"},
            "unmatched": {"http_route": "", "http_response_status_code": "404", "error_type": ""},
            "boom": {"http_route": "/boom", "http_response_status_code": "500", "error_type": "RuntimeError"},
        }.items()
    }
    assert delta == {"item": 1, "order": 1, "unmatched": 1, "boom": 1}
    # the scrape itself is the one request in flight when the gauge is read
    assert total(found, "http_server_active_requests", http_request_method="GET") == 1
    assert REGISTRY.get_sample_value("http_server_active_requests", {"http_request_method": "GET"}) == 0


def test_series_per_request_kind(client: TestClient, registry: CollectorRegistry) -> None:
    client.get("/items/1")
    client.get("/items/2")
    client.get("/items/404")
    client.get("/items/abc")
    client.get("/unavailable")
    client.get("/admin/users/9")
    client.request("PURGE", "/items/1")
    found = scrape(registry)
    got = {
        (s["http_request_method"], s["http_route"], s["http_response_status_code"], s["error_type"])
        for s in series(found, COUNT)
    }
    assert got == {
        ("GET", "/items/{item_id}", "200", ""),
        ("GET", "/items/{item_id}", "404", ""),
        ("GET", "/items/{item_id}", "422", ""),
        ("GET", "/unavailable", "503", "503"),
        ("GET", "/admin/users/{user_id}", "200", ""),
        ("_OTHER", "/items/{item_id}", "405", ""),
    }
    assert total(found, COUNT, http_route="/items/{item_id}", http_response_status_code="200") == 2


def test_exception_is_recorded_and_reraised_unchanged(registry: CollectorRegistry) -> None:
    client = TestClient(shop.create_app(registry), raise_server_exceptions=True)
    with pytest.raises(RuntimeError, match="the payment provider is down"):
        client.get("/boom")
    found = scrape(registry)
    assert series(found, COUNT) == [
        {
            "http_request_method": "GET",
            "http_route": "/boom",
            "http_response_status_code": "500",
            "error_type": "RuntimeError",
        }
    ]
    assert total(found, "http_server_active_requests") == 0


def test_streaming_is_timed_to_the_end_of_the_body(client: TestClient, registry: CollectorRegistry) -> None:
    response = client.get("/stream", params={"chunks": 4, "pause": 0.05})
    assert response.text == "".join(f"chunk {i}\n" for i in range(4))
    assert total(scrape(registry), SUM, http_route="/stream") >= 0.2


def test_active_requests_while_a_body_streams(registry: CollectorRegistry) -> None:
    app = shop.create_app(registry)
    seen: list[float | None] = []

    def on_body(message: dict[str, object]) -> None:
        seen.append(registry.get_sample_value("http_server_active_requests", {"http_request_method": "GET"}))

    status, _ = asyncio.run(call(app, "GET", "/stream", on_body=on_body))
    assert status == 200
    assert seen and all(value == 1.0 for value in seen)
    assert registry.get_sample_value("http_server_active_requests", {"http_request_method": "GET"}) == 0.0


def test_ten_thousand_distinct_raw_paths_keep_the_route_label_bounded(registry: CollectorRegistry) -> None:
    app = shop.create_app(registry)

    async def flood() -> dict[int, int]:
        statuses: dict[int, int] = {}
        for i in range(10_000):
            path = (
                f"/items/{i}",
                f"/nope/{i}/{i * 7919}",
                f"/admin/users/{i}",
                f"/admin/missing/{i}",
                f"/items/{i}/",
                f"/wp-login.php?{i}",
                f"/items/x{i}",
            )[i % 7]
            status, _ = await call(app, "GET", path)
            statuses[status] = statuses.get(status, 0) + 1
        return statuses

    statuses = asyncio.run(flood())
    assert statuses.keys() == {200, 404, 307, 422}
    found = scrape(registry)
    routes = {s["http_route"] for s in series(found, COUNT)}
    assert routes == {"", "/items/{item_id}", "/admin/users/{user_id}"}
    assert len(series(found, COUNT)) <= 6
    assert total(found, COUNT) == 10_000
    # unmatched paths (404) and trailing-slash redirects (307) carry no route at all
    assert total(found, COUNT, http_route="") == statuses[404] + statuses[307]
    assert "parapet_metric_label_overflow" not in found


def test_plain_starlette_mounts_and_unmatched(registry: CollectorRegistry) -> None:
    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hi")

    inner = Starlette(routes=[Route("/reports/{year:int}", hello)])
    app = Starlette(routes=[Route("/", hello), Mount("/tenants/{tenant}", app=inner)])
    app.add_middleware(ParapetMiddleware, registry=registry)
    client = TestClient(app)
    assert client.get("/tenants/acme/reports/2024").status_code == 200
    assert client.get("/tenants/acme/other").status_code == 404
    assert client.get("/").status_code == 200
    routes = {(s["http_route"], s["http_response_status_code"]) for s in series(scrape(registry), COUNT)}
    assert routes == {("/tenants/{tenant}/reports/{year:int}", "200"), ("", "404"), ("/", "200")}


def test_lifespan_and_websocket_scopes_pass_through(registry: CollectorRegistry) -> None:
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app.add_middleware(ParapetMiddleware, registry=registry)
    with TestClient(app) as client, client.websocket_connect("/ws") as socket:
        assert socket.receive_text() == "hello"
    assert series(scrape(registry), COUNT) == []


@pytest.fixture
def guarded(registry: CollectorRegistry) -> TestClient:
    from starlette.routing import Route as StarletteRoute

    app = Starlette(
        routes=[
            StarletteRoute("/metrics", metrics_asgi_app(registry, bearer_token="s3cret")),
            StarletteRoute("/basic", metrics_asgi_app(registry, basic_auth=("prom", "pa:ss"))),
        ]
    )
    return TestClient(app)


def test_metrics_bearer_auth(guarded: TestClient) -> None:
    missing = guarded.get("/metrics")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="metrics"'
    assert "http_server" not in missing.text
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": "Basic czNjcmV0"}).status_code == 401
    ok = guarded.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert "# TYPE" in ok.text or ok.text == ""


def test_metrics_basic_auth(guarded: TestClient) -> None:
    def basic(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    assert guarded.get("/basic").headers["www-authenticate"] == 'Basic realm="metrics"'
    assert guarded.get("/basic", headers=basic("prom", "wrong")).status_code == 401
    assert guarded.get("/basic", headers={"Authorization": "Basic !!notbase64"}).status_code == 401
    assert guarded.get("/basic", headers=basic("prom", "pa:ss")).status_code == 200


def test_metrics_openmetrics_negotiation_and_methods(registry: CollectorRegistry) -> None:
    app = shop.create_app(registry)
    client = TestClient(app)
    client.get("/items/3")
    text = client.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain; version=")
    assert "# EOF" not in text.text
    om = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.endswith("# EOF\n")
    found = families(om.text, openmetrics=True)
    assert_contract(found, ("http_server_request_duration_seconds",))
    assert client.post("/metrics").status_code == 405
    assert client.head("/metrics").content == b""
    assert parapet_families(found) == set(HTTP_FAMILIES)


def test_empty_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="bearer_token is empty"):
        metrics_asgi_app(bearer_token="")
    with pytest.raises(ValueError, match="basic_auth needs a user name and a password"):
        metrics_asgi_app(basic_auth=("prom", ""))
