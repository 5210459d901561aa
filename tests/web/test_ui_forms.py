"""The operator UI through its forms, on SQLite and PostgreSQL: identity, roles, CSRF and Origin checks,
optimistic concurrency (409), escaping, the queue's filters and pages, the timeline's pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from parapet.evidence import Alert, Store
from tests.web.helpers import HOSTILE, PASSWORDS, Clock, csrf_of, form_fields

ROOT = "/parapet"


def login(client: TestClient, name: str) -> None:
    page = client.get(f"{ROOT}/login")
    response = client.post(
        f"{ROOT}/login",
        data={"csrf_token": csrf_of(page.text), "name": name, "password": PASSWORDS[name], "next": f"{ROOT}/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def post_form(client: TestClient, incident_id: int, action: str, **extra: str) -> object:
    page = client.get(f"{ROOT}/incidents/{incident_id}")
    fields = form_fields(page.text, f"/incidents/{incident_id}/{action}")
    return client.post(f"{ROOT}/incidents/{incident_id}/{action}", data={**fields, **extra}, follow_redirects=False)


def test_signed_out_is_sent_to_sign_in_and_back(client: TestClient, seeded: dict[str, int]) -> None:
    target = f"{ROOT}/incidents/{seeded['checkout']}"
    response = client.get(target, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{ROOT}/login?next=%2Fparapet%2Fincidents%2F{seeded['checkout']}"
    page = client.get(response.headers["location"])
    wrong = client.post(
        f"{ROOT}/login",
        data={"csrf_token": csrf_of(page.text), "name": "rita", "password": "nope", "next": target},
        follow_redirects=False,
    )
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    ok = client.post(
        f"{ROOT}/login",
        data={"csrf_token": csrf_of(page.text), "name": "rita", "password": PASSWORDS["rita"], "next": target},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == target
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/parapet;" in cookie


def test_sign_in_never_redirects_to_another_site(client: TestClient, seeded: dict[str, int]) -> None:
    page = client.get(f"{ROOT}/login")
    for evil in ("https://evil.example/", "//evil.example/", "/elsewhere", "javascript:alert(1)"):
        response = client.post(
            f"{ROOT}/login",
            data={"csrf_token": csrf_of(page.text), "name": "rita", "password": PASSWORDS["rita"], "next": evil},
            follow_redirects=False,
        )
        assert response.headers["location"] == f"{ROOT}/", evil
        page = client.get(f"{ROOT}/login")


def test_responder_acknowledges_notes_resolves_and_reopens(
    client: TestClient, store: Store, seeded: dict[str, int], clock: Clock
) -> None:
    login(client, "rita")
    ident = seeded["checkout"]
    response = post_form(client, ident, "acknowledge")
    assert response.status_code == 303 and response.headers["location"] == f"{ROOT}/incidents/{ident}"
    assert "Acknowledged incident" in client.get(response.headers["location"]).text
    clock.at += timedelta(minutes=1)
    assert post_form(client, ident, "notes", text="rolled back v2.31.0").status_code == 303
    clock.at += timedelta(minutes=1)
    assert post_form(client, ident, "resolve").status_code == 303
    clock.at += timedelta(minutes=1)
    assert post_form(client, ident, "reopen").status_code == 303
    incident = store.get(ident)
    assert incident.state == "open"
    kinds = [(e.kind, e.actor) for e in store.timeline(ident)]
    assert kinds == [
        ("opened", "system:alertmanager"),
        ("acknowledged", "rita"),
        ("note", "rita"),
        ("resolved", "rita"),
        ("reopened", "rita"),
    ]
    assert store.timeline(ident)[2].message == "rolled back v2.31.0"


def test_viewer_sees_no_forms_and_cannot_post(client: TestClient, store: Store, seeded: dict[str, int]) -> None:
    login(client, "vera")
    ident = seeded["checkout"]
    page = client.get(f"{ROOT}/incidents/{ident}")
    assert page.status_code == 200 and "/acknowledge" not in page.text
    before = store.get(ident)
    response = client.post(
        f"{ROOT}/incidents/{ident}/acknowledge",
        data={"csrf_token": csrf_of(page.text), "expected_version": str(before.version)},
        follow_redirects=False,
    )
    assert response.status_code == 403 and "viewer" in response.text
    assert store.get(ident) == before and len(store.timeline(ident)) == 1


def test_admin_may_do_what_a_responder_does(client: TestClient, store: Store, seeded: dict[str, int]) -> None:
    login(client, "adam")
    assert post_form(client, seeded["checkout"], "acknowledge").status_code == 303
    assert store.get(seeded["checkout"]).acknowledged_by == "adam"


@pytest.mark.parametrize(
    ("headers", "drop_token"),
    [
        ({}, True),  # no token at all
        ({"origin": "https://evil.example"}, False),  # a foreign Origin, even with the token
        ({"origin": "null"}, False),
        ({"sec-fetch-site": "cross-site"}, False),
        ({"origin": "http://testserver.evil.example"}, False),
    ],
)
def test_post_without_token_or_from_foreign_origin_is_403_and_writes_nothing(
    client: TestClient, store: Store, seeded: dict[str, int], headers: dict[str, str], drop_token: bool
) -> None:
    login(client, "rita")
    ident = seeded["checkout"]
    page = client.get(f"{ROOT}/incidents/{ident}")
    fields = form_fields(page.text, f"/incidents/{ident}/acknowledge")
    if drop_token:
        del fields["csrf_token"]
    before, entries = store.get(ident), store.timeline(ident)
    response = client.post(
        f"{ROOT}/incidents/{ident}/acknowledge", data=fields, headers=headers, follow_redirects=False
    )
    assert response.status_code == 403 and "This form was refused" in response.text
    assert store.get(ident) == before and store.timeline(ident) == entries
    note_fields = form_fields(page.text, f"/incidents/{ident}/notes")
    if drop_token:
        del note_fields["csrf_token"]
    response = client.post(
        f"{ROOT}/incidents/{ident}/notes", data={**note_fields, "text": "x"}, headers=headers, follow_redirects=False
    )
    assert response.status_code == 403 and store.timeline(ident) == entries


def test_same_origin_post_with_token_passes(client: TestClient, store: Store, seeded: dict[str, int]) -> None:
    login(client, "rita")
    response = post_form(client, seeded["checkout"], "acknowledge")
    assert response.status_code == 303
    page = client.get(f"{ROOT}/incidents/{seeded['checkout']}")
    fields = form_fields(page.text, "/notes")
    ok = client.post(
        f"{ROOT}/incidents/{seeded['checkout']}/notes",
        data={**fields, "text": "same origin"},
        headers={"origin": "http://testserver", "sec-fetch-site": "same-origin"},
        follow_redirects=False,
    )
    assert ok.status_code == 303


def test_stale_form_gets_409_with_what_changed(client: TestClient, store: Store, seeded: dict[str, int]) -> None:
    login(client, "rita")
    ident = seeded["checkout"]
    page = client.get(f"{ROOT}/incidents/{ident}")
    stale = form_fields(page.text, f"/incidents/{ident}/resolve")
    store.acknowledge(ident, actor="bob", message="on it from my phone")
    response = client.post(f"{ROOT}/incidents/{ident}/resolve", data=stale, follow_redirects=False)
    assert response.status_code == 409
    assert "changed while you were looking" in response.text
    assert "on it from my phone" in response.text and "bob" in response.text
    assert store.get(ident).state == "acknowledged"
    again = form_fields(response.text, f"/incidents/{ident}/resolve")
    assert again["expected_version"] == str(store.get(ident).version)
    assert client.post(f"{ROOT}/incidents/{ident}/resolve", data=again, follow_redirects=False).status_code == 303
    assert store.get(ident).state == "resolved"


def test_stale_note_keeps_its_text(client: TestClient, store: Store, seeded: dict[str, int]) -> None:
    login(client, "rita")
    ident = seeded["checkout"]
    page = client.get(f"{ROOT}/incidents/{ident}")
    fields = form_fields(page.text, "/notes")
    store.add_note(ident, actor="bob", text="meanwhile")
    response = client.post(
        f"{ROOT}/incidents/{ident}/notes", data={**fields, "text": "my careful words"}, follow_redirects=False
    )
    assert response.status_code == 409 and "my careful words" in response.text and "meanwhile" in response.text
    assert [e.message for e in store.timeline(ident) if e.kind == "note"] == ["meanwhile"]


def test_acknowledging_a_resolved_incident_is_409(client: TestClient, store: Store, seeded: dict[str, int]) -> None:
    login(client, "rita")
    ident = seeded["resolved"]
    version = store.get(ident).version
    page = client.get(f"{ROOT}/incidents/{ident}")
    response = client.post(
        f"{ROOT}/incidents/{ident}/acknowledge",
        data={"csrf_token": csrf_of(page.text), "expected_version": str(version)},
        follow_redirects=False,
    )
    assert response.status_code == 409 and "resolved" in response.text
    assert store.get(ident).version == version


def test_reopen_refused_while_another_incident_is_active(
    client: TestClient, store: Store, seeded: dict[str, int]
) -> None:
    login(client, "rita")
    ident = seeded["resolved"]
    newer = store.open_or_touch(
        Alert(correlation_key="api/errors", alert_name="APIErrors", severity="critical", title="again")
    )
    response = post_form(client, ident, "reopen")
    assert response.status_code == 409 and f"/incidents/{newer.incident.id}" in response.text
    assert store.get(ident).state == "resolved"


def test_empty_or_huge_note_is_400_with_the_error_beside_the_field(
    client: TestClient, store: Store, seeded: dict[str, int]
) -> None:
    login(client, "rita")
    ident = seeded["checkout"]
    empty = post_form(client, ident, "notes", text="   ")
    assert empty.status_code == 400 and "Write the note before adding it." in empty.text
    assert 'aria-invalid="true"' in empty.text
    huge = post_form(client, ident, "notes", text="y" * 10_001)
    assert huge.status_code == 400 and "10,001 characters" in huge.text
    assert len(store.timeline(ident)) == 1


def test_bad_form_values(client: TestClient, store: Store, seeded: dict[str, int]) -> None:
    login(client, "rita")
    ident = seeded["checkout"]
    page = client.get(f"{ROOT}/incidents/{ident}")
    token = csrf_of(page.text)
    no_version = client.post(f"{ROOT}/incidents/{ident}/acknowledge", data={"csrf_token": token})
    assert no_version.status_code == 400 and "expected_version" in no_version.text
    missing = client.post(f"{ROOT}/incidents/999999/acknowledge", data={"csrf_token": token, "expected_version": "1"})
    assert missing.status_code == 404 and "does not exist" in missing.text
    unknown = client.post(f"{ROOT}/incidents/{ident}/explode", data={"csrf_token": token, "expected_version": "1"})
    assert unknown.status_code == 404
    assert store.get(ident).version == 1


def test_alert_and_user_text_is_escaped_and_javascript_urls_never_link(
    client: TestClient, seeded: dict[str, int]
) -> None:
    login(client, "rita")
    for path in ("/", f"/incidents/{seeded['hostile']}", f"/incidents/{seeded['hostile']}/retrospective"):
        page = client.get(ROOT + path)
        assert page.status_code == 200
        assert HOSTILE not in page.text
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "&lt;script" in page.text
    detail = client.get(f"{ROOT}/incidents/{seeded['hostile']}").text
    assert 'href="javascript:' not in detail and "Runbook" not in detail.split("Links")[1].split("</ul>")[0]


def test_every_page_has_a_strict_csp_and_no_inline_script_or_style(client: TestClient, seeded: dict[str, int]) -> None:
    login(client, "rita")
    for path in ("/", f"/incidents/{seeded['checkout']}", f"/incidents/{seeded['checkout']}/retrospective", "/login"):
        page = client.get(ROOT + path)
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp and page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), path
        assert " style=" not in page.text and "<style" not in page.text and " on" + "click=" not in page.text
    css = client.get(f"{ROOT}/static/parapet.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_queue_filters_counts_and_pages(client: TestClient, store: Store, seeded: dict[str, int], clock: Clock) -> None:
    for i in range(35):
        clock.at += timedelta(seconds=1)
        store.open_or_touch(
            Alert(correlation_key=f"bulk/{i}", alert_name="Bulk", severity="warning", title=f"bulk {i}", service="bulk")
        )
    login(client, "vera")
    page = client.get(f"{ROOT}/")
    assert 'Active <span class="count">38</span>' in page.text
    assert 'Resolved <span class="count">1</span>' in page.text
    assert page.text.count('class="incident"') == 30
    nxt = re.search(r'href="([^"]+)" rel="next"', page.text)
    assert nxt
    second = client.get(nxt.group(1).replace("&amp;", "&"))
    assert second.text.count('class="incident"') == 8 and 'rel="next"' not in second.text
    bulk = client.get(f"{ROOT}/?service=bulk&severity=warning")
    assert bulk.text.count('class="incident"') == 30 and "checkout availability" not in bulk.text
    assert 'Active <span class="count">35</span>' in bulk.text
    resolved = client.get(f"{ROOT}/?state=resolved")
    assert resolved.text.count('class="incident"') == 1 and "api errors" in resolved.text
    assert client.get(f"{ROOT}/?state=nonsense").status_code == 400
    broken = client.get(f"{ROOT}/?cursor=not-a-cursor")
    assert broken.status_code == 400 and "invalid queue cursor" in broken.text


def test_incident_page_shows_suspect_changes_links_and_pages_its_timeline(
    client: TestClient, store: Store, seeded: dict[str, int]
) -> None:
    ident = seeded["checkout"]
    for i in range(60):
        store.add_note(ident, actor="system:parapet:automation" if i % 2 else "rita", text=f"entry {i}")
    login(client, "vera")
    page = client.get(f"{ROOT}/incidents/{ident}").text
    assert "checkout v2.31.0 (a1b2c3d)" in page and "new-pricing on" in page
    assert "search v9" not in page  # another service's deploy is no suspect
    assert 'href="https://runbooks.example.com/checkout"' in page
    assert "61 entries, newest first" in page and "entry 59" in page and "entry 9<" not in page
    assert 'class="actor system"' in page
    older = re.search(r'href="([^"]+\?before=[^"]+)"', page)
    assert older
    rest = client.get(older.group(1).replace("&amp;", "&")).text
    assert "entry 9<" in rest and "opened" in rest and "Newest entries" in rest
    assert client.get(f"{ROOT}/incidents/{ident}?before=garbage").status_code == 400
    assert client.get(f"{ROOT}/incidents/424242").status_code == 404


def test_retrospective_downloads_as_markdown(
    client: TestClient, store: Store, seeded: dict[str, int], clock: Clock
) -> None:
    ident = seeded["checkout"]
    clock.at += timedelta(minutes=4)
    store.acknowledge(ident, actor="rita")
    clock.at += timedelta(minutes=20)
    store.resolve(ident, actor="rita")
    login(client, "vera")
    response = client.get(f"{ROOT}/incidents/{ident}/retrospective.md")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="incident-{ident}.md"'
    assert response.headers["content-type"].startswith("text/markdown")
    text = response.text
    assert "**Time to acknowledge:** 34m 00s" in text and "**Time to resolve:** 54m 00s" in text
    assert "| rita | person | acknowledged, resolved |" in text
    assert "checkout v2.31.0 \\(a1b2c3d\\)" in text
    page = client.get(f"{ROOT}/incidents/{ident}/retrospective")
    assert "Time to acknowledge" in page.text and 'data-copy="retro-text"' in page.text
