"""`parapet serve` and the UI's identity: the users file and trusted proxies from the spec's `ui:` block (or
options), the real server process on loopback; a serve without any sign-in says so; a bad network in the
spec is one error naming its line."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request
from pathlib import Path

from parapet.evidence.db import create_engine_for
from parapet.evidence.schema import metadata
from tests.alerts.conftest import MINI_SPEC
from tests.alerts.harness import parapet_serve
from tests.web.helpers import PASSWORDS, write_users

UI_BLOCK = """ui:
  users_file: conf/users
  trusted_proxies:
    networks: [127.0.0.1/32]
    user_header: X-Auth-User
    role_header: X-Auth-Role
  trace_url: https://tempo.example.com/trace/{trace_id}
"""


def _host(tmp_path: Path, extra: str = "") -> tuple[Path, str]:
    (tmp_path / "parapet.yaml").write_text(MINI_SPEC + extra)
    (tmp_path / "conf").mkdir()
    write_users(tmp_path / "conf" / "users")
    (tmp_path / "token").write_text("serve-ui-token\n")
    url = f"sqlite:///{tmp_path / 'parapet.db'}"
    engine = create_engine_for(url)
    metadata.create_all(engine)
    engine.dispose()
    return tmp_path, url


def test_serve_signs_in_from_the_specs_users_file_and_trusts_its_proxy(tmp_path: Path) -> None:
    root, url = _host(tmp_path, UI_BLOCK)
    with parapet_serve(root, "--database-url", url, "--webhook-token-file", "token") as (base, proc):
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        login = opener.open(f"{base}/parapet/")  # redirected to the sign-in page
        assert login.url.startswith(f"{base}/parapet/login")
        page = login.read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        form = {"csrf_token": token.group(1), "name": "rita", "password": PASSWORDS["rita"], "next": "/parapet/"}
        queue = opener.open(f"{base}/parapet/login", data=urllib.parse.urlencode(form).encode())
        assert queue.url == f"{base}/parapet/" and "rita" in queue.read().decode()

        proxied = urllib.request.Request(f"{base}/parapet/", headers={"X-Auth-User": "pat", "X-Auth-Role": "admin"})
        body = urllib.request.urlopen(proxied).read().decode()
        assert 'pat <span class="role">admin</span>' in body
    assert "no sign-in" not in proc.text()


def test_serve_without_sign_in_says_so(tmp_path: Path) -> None:
    root, url = _host(tmp_path)
    with parapet_serve(root, "--database-url", url, "--webhook-token-file", "token") as (base, proc):
        try:
            urllib.request.urlopen(f"{base}/parapet/")
        except urllib.error.HTTPError as exc:
            assert exc.code == 403 and "No sign-in is configured" in exc.read().decode()
        else:
            raise AssertionError("the UI answered without anyone signed in")
    assert "note: the operator UI has no sign-in (every page answers 403)" in proc.text()


def test_a_bad_proxy_network_in_the_spec_is_one_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, url = _host(tmp_path, UI_BLOCK.replace("127.0.0.1/32", "10.0.0.300/8"))
    result = cli("serve", "--spec", str(root / "parapet.yaml"), "--database-url", url)
    assert result.exit_code == 3, result.output
    assert re.search(r"error: .*parapet\.yaml:\d+:\d+: .*'10\.0\.0\.300/8' is not a network", result.stderr)
    assert "hint: write an address or a CIDR" in result.stderr and "Traceback" not in result.output
