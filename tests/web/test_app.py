"""The app factory: relative routes mounted under /parapet, settings reachable from a request, health."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from parapet.evidence.db import create_engine_for
from parapet.evidence.schema import metadata
from parapet.evidence.store import Store
from parapet.web import create_app, settings_of


def _store(tmp_path: Path) -> Store:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'p.db'}")
    metadata.create_all(engine)
    return Store(engine)


def test_mounted_at_parapet_answers_health(tmp_path: Path) -> None:
    app = create_app(spec_path=None, store=_store(tmp_path))
    host = Starlette(routes=[Mount("/parapet", app=app)])
    with TestClient(host) as client:
        assert client.get("/parapet/healthz").json() == {"status": "ok"}
        assert client.get("/healthz").status_code == 404


def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    store = Store(create_engine_for("postgresql://nobody@127.0.0.1:1/none"))
    with TestClient(create_app(spec_path=None, store=store)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_route_groups_compose_and_see_the_settings(tmp_path: Path) -> None:
    async def whoami(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(settings_of(request).extra["flavour"]))

    app = create_app(
        spec_path=None, store=_store(tmp_path), route_groups=[lambda s: [Route("/me", whoami)]], flavour="mint"
    )
    with TestClient(app) as client:
        assert client.get("/me").text == "mint"


def test_database_url_defaults_to_the_spec_missing_file_is_no_spec(tmp_path: Path) -> None:
    app = create_app(spec_path=tmp_path / "absent.yaml", database_url=f"sqlite:///{tmp_path / 'x.db'}")
    assert settings_of_app(app).spec is None
    assert str(settings_of_app(app).store.engine.url).endswith("x.db")


def settings_of_app(app: Starlette):  # type: ignore[no-untyped-def]
    return app.state.parapet
