"""Who the UI believes: the users file (argon2), trusted proxy headers, the host's callable, the eject
loader for templates, and the session secret."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from parapet.errors import ConfigError
from parapet.evidence import Store
from parapet.web import create_app
from parapet.web.identity import Role, TrustedProxies, User, UsersFile, add_user, can, parse_users
from parapet.web.security import SESSION_SECRET_ENV, session_secret
from tests.web.conftest import SECRET, host_with
from tests.web.helpers import form_fields

ROOT = "/parapet"


def test_roles() -> None:
    assert can(Role.VIEWER, "view") and not can(Role.VIEWER, "acknowledge")
    for action in ("acknowledge", "resolve", "reopen", "note"):
        assert can(Role.RESPONDER, action) and can(Role.ADMIN, action)
    assert not can(Role.ADMIN, "no-such-action")
    with pytest.raises(ValueError, match="system: identity"):
        User("system:alertmanager", Role.ADMIN)
    assert User("alice", "responder").role is Role.RESPONDER  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice responder", "users:1:1: a user line has 2 fields, expected 3 (name role hash)"),
        ("# c\n  alice boss $argon2id$x", "users:2:3: unknown role 'boss' for 'alice'"),
        ("alice admin plaintext", "users:1:1: the password of 'alice' is not an argon2 hash"),
        ("alice admin $argon2id$a\nalice viewer $argon2id$b", "users:2:1: user 'alice' is listed twice"),
        ("system:x admin $argon2id$a", "users:1:1: invalid user name 'system:x'"),
    ],
)
def test_users_file_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_users(text, Path("users"))
    assert caught.value.message == message and caught.value.hint


def test_add_user_hashes_with_argon2id_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "users"
    assert add_user(path, "alice", Role.RESPONDER, "correct horse") is False
    line = path.read_text()
    assert line.startswith("alice responder $argon2id$") and "correct horse" not in line
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = UsersFile(path)
    assert users.verify("alice", "correct horse") == User("alice", Role.RESPONDER)
    assert users.verify("alice", "wrong") is None and users.verify("nobody", "correct horse") is None
    assert add_user(path, "alice", Role.ADMIN, "battery staple") is True
    assert users.verify("alice", "battery staple") == User("alice", Role.ADMIN)
    assert len(path.read_text().splitlines()) == 1
    with pytest.raises(ConfigError, match="cannot read the users file"):
        UsersFile(tmp_path / "missing")


def test_removing_a_user_ends_their_session(client: TestClient, users_file: Path, seeded: dict[str, int]) -> None:
    from tests.web.test_ui_forms import login

    login(client, "rita")
    assert client.get(f"{ROOT}/", follow_redirects=False).status_code == 200
    users_file.write_text(
        "\n".join(line for line in users_file.read_text().splitlines() if not line.startswith("rita"))
    )
    assert client.get(f"{ROOT}/", follow_redirects=False).status_code == 303


def test_a_tampered_session_cookie_is_ignored(client: TestClient, seeded: dict[str, int]) -> None:
    from tests.web.test_ui_forms import login

    login(client, "adam")
    value = client.cookies["parapet_session"]
    client.cookies.clear()
    client.cookies.set("parapet_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"), path="/parapet")
    assert client.get(f"{ROOT}/", follow_redirects=False).status_code == 303


def test_trusted_proxy_headers_only_from_allowed_networks(store: Store, seeded: dict[str, int]) -> None:
    proxies = TrustedProxies.parse(["10.0.0.0/8", "::1"], role_header="X-Parapet-Role")
    app = host_with(store=store, trusted_proxies=proxies)
    headers = {"X-Forwarded-User": "pat", "X-Parapet-Role": "responder"}
    with TestClient(app, client=("10.1.2.3", 40000), headers=headers) as inside:
        page = inside.get(f"{ROOT}/incidents/{seeded['checkout']}")
        assert page.status_code == 200 and "pat" in page.text
        fields = form_fields(page.text, "/acknowledge")
        assert inside.post(f"{ROOT}/incidents/{seeded['checkout']}/acknowledge", data=fields).status_code == 200
    assert store.get(seeded["checkout"]).acknowledged_by == "pat"
    with TestClient(app, client=("192.0.2.7", 40000), headers=headers) as outside:
        refused = outside.get(f"{ROOT}/", follow_redirects=False)
        assert refused.status_code == 401 and "pat" not in refused.text
    with TestClient(app, client=("10.1.2.3", 40000), headers={"X-Forwarded-User": "pat", "X-Parapet-Role": "god"}) as c:
        assert "viewer" in c.get(f"{ROOT}/").text  # an unknown role falls back to the default
    with pytest.raises(ConfigError, match="is not a network"):
        TrustedProxies.parse(["10.0.0.300/8"])


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_host_supplies_the_user(store: Store, seeded: dict[str, int], kind: str) -> None:
    def from_host_session(conn: HTTPConnection) -> User | None:
        name = conn.headers.get("x-host-user")  # stands for the host's own session lookup
        return User(name, Role.RESPONDER) if name else None

    async def async_from_host_session(conn: HTTPConnection) -> User | None:
        return from_host_session(conn)

    host = FastAPI()
    provider = from_host_session if kind == "sync" else async_from_host_session
    host.mount(
        "/parapet",
        create_app(spec_path=None, store=store, user_provider=provider, session_secret=SECRET, login_url="/login"),
    )
    with TestClient(host, headers={"x-host-user": "hana"}) as c:
        page = c.get(f"{ROOT}/incidents/{seeded['checkout']}")
        assert "hana" in page.text and "Sign out" not in page.text
        fields = form_fields(page.text, "/notes")
        done = c.post(f"{ROOT}/incidents/{seeded['checkout']}/notes", data={**fields, "text": "from the host"})
        assert done.status_code == 200
    assert store.timeline(seeded["checkout"])[-1].actor == "hana"
    with TestClient(host) as anonymous:
        response = anonymous.get(f"{ROOT}/", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login"


def test_no_identity_configured_refuses_everyone(store: Store, seeded: dict[str, int]) -> None:
    with TestClient(host_with(store=store)) as c:
        response = c.get(f"{ROOT}/")
        assert response.status_code == 403 and "No sign-in is configured" in response.text


def test_insecure_local_is_a_local_admin(store: Store, seeded: dict[str, int]) -> None:
    with TestClient(host_with(store=store, insecure_local=True)) as c:
        page = c.get(f"{ROOT}/")
        assert page.status_code == 200 and "local" in page.text and "admin" in page.text


def test_ejected_templates_win_over_packaged_ones(tmp_path: Path, store: Store, seeded: dict[str, int]) -> None:
    spec = tmp_path / "parapet.yaml"
    ejected = tmp_path / "templates" / "parapet"
    ejected.mkdir(parents=True)
    (ejected / "problem.html").write_text(
        '{% extends "base.html" %}{% block content %}<p class="ours">Our own words: {{ title }}</p>{% endblock %}'
    )
    from parapet.web.templating import host_templates_dir

    assert host_templates_dir(None, spec) == ejected
    with TestClient(host_with(store=store, templates_dir=ejected)) as c:
        page = c.get(f"{ROOT}/")
        assert page.status_code == 403 and '<p class="ours">Our own words: No sign-in is configured</p>' in page.text
        assert 'href="/parapet/static/parapet.css' in page.text  # base.html still comes from the package
    with pytest.raises(ConfigError, match="does not exist"):
        host_templates_dir(tmp_path / "nowhere", None)


def test_session_secret_file_is_private_and_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SESSION_SECRET_ENV, raising=False)
    first = session_secret(None, tmp_path)
    path = tmp_path / ".parapet" / "session-secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(first) >= 32
    assert session_secret(None, tmp_path) == first
    monkeypatch.setenv(SESSION_SECRET_ENV, "from-the-environment-" * 2)
    assert session_secret(None, tmp_path) == "from-the-environment-" * 2
    assert session_secret("explicit-secret-" * 3, tmp_path) == "explicit-secret-" * 3


def test_an_unreachable_store_is_a_503_page() -> None:
    from parapet.evidence.db import create_engine_for

    store = Store(create_engine_for("postgresql://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2}))
    with TestClient(host_with(store=store, insecure_local=True)) as c:
        response = c.get(f"{ROOT}/")
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert "The incident store is not answering" in response.text and "nobody" not in response.text


def test_the_hosts_own_session_reaches_its_provider(store: Store, seeded: dict[str, int]) -> None:
    """As docs/operating.md shows: a FastAPI host with its own SessionMiddleware; its provider reads the host's
    session, and Parapet's session (CSRF token, flash) lives beside it without hiding it."""

    def parapet_user(request: Request) -> User | None:
        account = request.session.get("account")
        return User(account, Role.RESPONDER) if account else None

    host = FastAPI()
    host.add_middleware(SessionMiddleware, secret_key="host-secret-" * 4)

    @host.get("/host-login")
    def host_login(request: Request) -> PlainTextResponse:
        request.session["account"] = "hana@example.com"
        return PlainTextResponse("ok")

    host.mount("/parapet", create_app(spec_path=None, store=store, user_provider=parapet_user, session_secret=SECRET))
    with TestClient(host) as c:
        assert c.get(f"{ROOT}/", follow_redirects=False).status_code == 401
        assert c.get("/host-login").text == "ok"
        page = c.get(f"{ROOT}/incidents/{seeded['checkout']}")
        assert page.status_code == 200 and "hana@example.com" in page.text
        fields = form_fields(page.text, "/acknowledge")
        done = c.post(f"{ROOT}/incidents/{seeded['checkout']}/acknowledge", data=fields, follow_redirects=True)
        assert "Acknowledged incident" in done.text
        assert c.get(f"{ROOT}/").status_code == 200  # the host's session survived Parapet's cookie
    assert store.get(seeded["checkout"]).acknowledged_by == "hana@example.com"
