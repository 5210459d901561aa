"""Django middleware and the metrics view on a real Django project through Django's test client."""

from __future__ import annotations

import os
import sys

import pytest
from prometheus_client import REGISTRY

from tests.metrics.hosts import host_dir, import_host
from tests.metrics.scrape import HTTP_FAMILIES, assert_contract, families, total

COUNT = "http_server_request_duration_seconds_count"
SUM = "http_server_request_duration_seconds_sum"


@pytest.fixture(scope="module")
def django_client():  # type: ignore[no-untyped-def]
    import django
    from django.conf import settings

    if not settings.configured:
        import_host("django_shop", "shopsite")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")
        django.setup()
    assert str(host_dir("django_shop")) in sys.path
    from django.test import Client

    return Client(raise_request_exception=False)


def _delta(before: dict[str, object], after: dict[str, object], **labels: str) -> float:
    return total(after, COUNT, **labels) - total(before, COUNT, **labels)  # type: ignore[arg-type]


def test_host_exposes_the_contract_through_its_test_client(django_client) -> None:  # type: ignore[no-untyped-def]
    before = families(django_client.get("/metrics").content.decode())
    assert django_client.get("/api/items/7/").status_code == 200
    assert django_client.post("/api/orders/").status_code == 201
    assert django_client.get("/api/items/404/").status_code == 404
    assert django_client.get("/nope/7").status_code == 404
    assert django_client.get("/boom/").status_code == 500
    assert django_client.generic("PURGE", "/api/items/7/").status_code == 200
    response = django_client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    found = families(response.content.decode())
    assert_contract(found, HTTP_FAMILIES)
    item = {"http_route": "api/items/<int:pk>/", "http_response_status_code": "200", "error_type": ""}
    assert _delta(before, found, http_request_method="GET", **item) == 1
    assert _delta(before, found, http_route="api/orders/", http_request_method="POST") == 1
    assert _delta(before, found, http_route="api/items/<int:pk>/", http_response_status_code="404") == 1
    assert _delta(before, found, http_route="", http_response_status_code="404") == 1
    assert _delta(before, found, http_route="boom/", http_response_status_code="500", error_type="RuntimeError") == 1
    assert _delta(before, found, http_route="api/items/<int:pk>/", http_request_method="_OTHER") == 1
    assert REGISTRY.get_sample_value("http_server_active_requests", {"http_request_method": "POST"}) == 0


def test_exception_reraised_unchanged(django_client) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    before = families(django_client.get("/metrics").content.decode())
    with pytest.raises(RuntimeError, match="the payment provider is down"):
        Client().get("/boom/")
    after = families(django_client.get("/metrics").content.decode())
    assert _delta(before, after, http_route="boom/", error_type="RuntimeError") == 1


def test_streaming_timed_to_the_end_of_the_body(django_client) -> None:  # type: ignore[no-untyped-def]
    before = families(django_client.get("/metrics").content.decode())
    response = django_client.get("/stream/")
    assert b"".join(response.streaming_content) == b"chunk 0\nchunk 1\nchunk 2\n"
    response.close()
    after = families(django_client.get("/metrics").content.decode())
    assert _delta(before, after, http_route="stream/") == 1
    assert total(after, SUM, http_route="stream/") - total(before, SUM, http_route="stream/") >= 0.15
    assert REGISTRY.get_sample_value("http_server_active_requests", {"http_request_method": "GET"}) == 0


def test_metrics_view_auth(django_client) -> None:  # type: ignore[no-untyped-def]
    from django.test import override_settings

    with override_settings(PARAPET_METRICS_BASIC_AUTH=("prom", "pw")):
        denied = django_client.get("/metrics")
        assert denied.status_code == 401
        assert denied["WWW-Authenticate"] == 'Basic realm="metrics"'
        ok = django_client.get(
            "/metrics", HTTP_AUTHORIZATION="Basic cHJvbTpwdw==", HTTP_ACCEPT="application/openmetrics-text"
        )
        assert ok.status_code == 200
        assert ok["Content-Type"].startswith("application/openmetrics-text")
        assert_contract(families(ok.content.decode(), openmetrics=True), ("http_server_request_duration_seconds",))
    with override_settings(PARAPET_METRICS_BEARER_TOKEN="t0k"):
        assert django_client.get("/metrics", HTTP_AUTHORIZATION="Bearer t0k").status_code == 200
        assert django_client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
