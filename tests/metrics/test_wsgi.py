"""WSGI middleware on a real Flask app through Flask's test client.

Requests are ``buffered=True``: the client then reads and closes the body, as every WSGI server does
(the middleware records when the body ends).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from prometheus_client import REGISTRY, CollectorRegistry

from parapet.metrics.wsgi import ParapetWSGIMiddleware
from tests.metrics.hosts import import_host
from tests.metrics.scrape import HTTP_FAMILIES, assert_contract, families, scrape, series, total

shop = import_host("flask_shop", "shop_flask")
COUNT = "http_server_request_duration_seconds_count"
SUM = "http_server_request_duration_seconds_sum"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def test_host_exposes_the_contract_through_its_test_client() -> None:
    client = shop.app.test_client()
    before = families(client.get("/metrics", buffered=True).text)
    assert client.get("/items/7", buffered=True).status_code == 200
    assert client.post("/orders", buffered=True).status_code == 201
    assert client.get("/nope/7", buffered=True).status_code == 404
    assert client.get("/boom", buffered=True).status_code == 500
    found = families(client.get("/metrics", buffered=True).text)
    assert_contract(found, HTTP_FAMILIES)
    delta = {
        key: total(found, COUNT, **labels) - total(before, COUNT, **labels)
        for key, labels in {
            "item": {"http_route": "/items/<int:item_id>", "http_response_status_code": "200", "error_type": ""},
            "order": {"http_route": "/orders", "http_request_method": "POST", "http_response_status_code": "201"},
            "unmatched": {"http_route": "", "http_response_status_code": "404", "error_type": ""},
            "boom": {"http_route": "/boom", "http_response_status_code": "500", "error_type": "RuntimeError"},
        }.items()
    }
    assert delta == {"item": 1, "order": 1, "unmatched": 1, "boom": 1}
    assert REGISTRY.get_sample_value("http_server_active_requests", {"http_request_method": "GET"}) == 0


def test_series_per_request_kind(registry: CollectorRegistry) -> None:
    client = shop.create_app(registry).test_client()
    for path in ("/items/1", "/items/2", "/items/404", "/items/abc", "/nope"):
        client.get(path, buffered=True)
    client.open("/items/1", method="PURGE", buffered=True)
    client.delete("/items/1", buffered=True)
    got = {
        (s["http_request_method"], s["http_route"], s["http_response_status_code"], s["error_type"])
        for s in series(scrape(registry), COUNT)
    }
    assert got == {
        ("GET", "/items/<int:item_id>", "200", ""),
        ("GET", "/items/<int:item_id>", "404", ""),
        ("GET", "", "404", ""),
        ("_OTHER", "", "405", ""),
        ("DELETE", "", "405", ""),
    }


def test_exception_recorded_and_reraised_unchanged(registry: CollectorRegistry) -> None:
    app = shop.create_app(registry)
    app.testing = True  # Flask propagates the exception instead of answering 500
    with pytest.raises(RuntimeError, match="the payment provider is down"):
        app.test_client().get("/boom", buffered=True)
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


def test_streaming_timed_to_the_end_of_the_body(registry: CollectorRegistry) -> None:
    response = shop.create_app(registry).test_client().get("/stream", buffered=True)
    assert response.text == "chunk 0\nchunk 1\nchunk 2\n"
    assert total(scrape(registry), SUM, http_route="/stream") >= 0.15


def test_plain_wsgi_app_error_in_body(registry: CollectorRegistry) -> None:
    def app(environ: dict[str, object], start_response: object) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
        yield b"partial"
        raise ConnectionResetError("upstream went away")

    wrapped = ParapetWSGIMiddleware(app, registry=registry)
    flask_app = Flask("plain")
    flask_app.wsgi_app = wrapped  # type: ignore[method-assign]
    with pytest.raises(ConnectionResetError, match="upstream went away"):
        flask_app.test_client().get("/anything/42", buffered=True)
    assert series(scrape(registry), COUNT) == [
        {
            "http_request_method": "GET",
            "http_route": "",
            "http_response_status_code": "200",
            "error_type": "ConnectionResetError",
        }
    ]


def test_metrics_endpoint_auth_and_openmetrics(registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_TOKEN", "s3cret")
    client = shop.create_app(registry).test_client()
    client.get("/items/1", buffered=True)
    denied = client.get("/metrics", buffered=True)
    assert denied.status_code == 401
    assert denied.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    om = client.get(
        "/metrics", headers={"Authorization": "Bearer s3cret", "Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert om.status_code == 200
    assert om.headers["Content-Type"].startswith("application/openmetrics-text")
    assert_contract(families(om.text, openmetrics=True), ("http_server_request_duration_seconds",))
    assert client.post("/metrics", headers={"Authorization": "Bearer s3cret"}, buffered=True).status_code == 405
