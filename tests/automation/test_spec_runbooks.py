"""Runbooks in the spec and in Python, one model: what loads, and what is refused with ``error: FILE:LINE:COL``,
a hint and exit 3 (an unknown step kind, a default of the wrong type, an unimportable callable, a parameter
whose type the function's signature contradicts); ``parapet gen runbooks`` writes the recovery templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from parapet.automation.catalog import define, load_catalog
from parapet.errors import SpecError
from parapet.spec import load_spec
from tests.automation.conftest import Host, make_host

HEAD = """\
version: parapet/v1
service: shop
alerting:
  runbook_url: https://ops.example.com/parapet/runbooks/{service}/{slo}
slos:
  - name: availability
    objective: 99.9
    sli:
      http: {}
runbooks:
  - name: payments
    match: {slo: availability}
    steps:
"""

BAD = [
    ("unknown step kind", "      - restart: {python: shop.ops:x}\n", "14:9", "unknown step kind 'restart'"),
    (
        "two kinds in one step",
        "      - guidance: hi\n        link: {url: https://x.example}\n",
        "15:9",
        "a step has one kind",
    ),
    (
        "default of the wrong type",
        "      - mitigation:\n          python: shop.ops:x\n          parameters:\n"
        "            n: {type: integer, default: two}\n",
        "17:41",
        "parameter 'n' is integer, but its default 'two' is not a whole number",
    ),
    (
        "unknown placeholder",
        "      - link: {url: 'https://x.example/{labels.q}/{region}'}\n",
        "14:21",
        "unknown placeholder '{region}'",
    ),
    (
        "secret without a source",
        "      - mitigation:\n          python: shop.ops:x\n          parameters:\n            t: {secret: true}\n",
        "17:16",
        "secret parameter 't' needs exactly one of env and file",
    ),
    ("bad python reference", "      - mitigation: {python: 'shop.ops'}\n", "14:30", "is not a valid python"),
    ("timeout too long", "      - mitigation: {python: 'a.b:c', timeout: 1h}\n", "14:48", "is longer than 10m"),
]


@pytest.mark.parametrize(("text", "at", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_runbooks_are_refused_at_their_position(cli, tmp_path: Path, text: str, at: str, message: str) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "parapet.yaml"
    spec.write_text(HEAD + text)
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    rendered = caught.value.render()
    assert f"parapet.yaml:{at}:" in rendered and message in rendered, rendered
    result = cli("gen", "slo", "--spec", str(spec), "--check")
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(f"error: {spec}:{at}:")
    assert "\nhint: " in result.stderr and "Traceback" not in result.output


def test_an_unimportable_callable_stops_serve_with_exit_3(cli, host: Host) -> None:  # type: ignore[no-untyped-def]
    host.spec_path.write_text(host.spec_path.read_text().replace(".ops:restart_workers", ".nope:restart_workers"))
    result = cli("serve", "--spec", str(host.spec_path), "--insecure-local")
    assert result.exit_code == 3, result.output
    assert f"error: {host.spec_path}:21:19: runbooks[0].steps[2].mitigation.python: cannot import" in result.stderr
    assert "hint: check the module path" in result.stderr and "Traceback" not in result.output


def test_a_parameter_type_mismatch_stops_serve_with_exit_3(cli, host: Host) -> None:  # type: ignore[no-untyped-def]
    host.spec_path.write_text(
        host.spec_path.read_text().replace(
            "count: {type: integer, default: 2, minimum: 1, maximum: 10}", "count: {type: boolean, default: true}"
        )
    )
    result = cli("serve", "--spec", str(host.spec_path), "--insecure-local")
    assert result.exit_code == 3, result.output
    assert "parameter type mismatch: 'count' is declared boolean, but" in result.stderr
    assert f"error: {host.spec_path}:25:13:" in result.stderr


def test_a_function_needing_an_undeclared_parameter_is_refused(host: Host) -> None:
    host.spec_path.write_text(
        host.spec_path.read_text().replace("            count: {type: integer", "            x: {type: integer")
    )
    with pytest.raises(SpecError, match="needs the parameter 'count', which step 'restart-workers' does not declare"):
        load_catalog(load_spec(host.spec_path))


def test_runbooks_declared_in_python_join_the_specs(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    (host.root / host.package / "book.py").write_text(
        "from parapet.automation import define\n"
        "RUNBOOKS = [define('checkout', match={'slo': 'availability'}, steps=[\n"
        "    {'guidance': 'Look at **checkout**.'},\n"
        f"    {{'mitigation': {{'python': '{host.package}.ops:quick', 'auto': True}}}},\n"
        "])]\n"
    )
    host.spec_path.write_text(host.spec_path.read_text() + f"  - python: {host.package}.book:RUNBOOKS\n")
    catalog = load_catalog(load_spec(host.spec_path))
    assert [r.name for r in catalog.runbooks] == ["payments", "checkout"]
    checkout = catalog.get("checkout")
    assert checkout is not None and checkout.steps[1].auto and checkout.steps[1].python.endswith(".ops:quick")
    assert catalog.automatic


def test_a_python_runbook_error_names_the_defining_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        define("x", match={"slo": "a"}, steps=[{"restart": {}}])
    assert caught.value.render().startswith(f"{Path(__file__)}:")
    assert "unknown step kind 'restart'" in caught.value.message


def test_gen_runbooks_writes_the_templates_once_and_check_sees_drift(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = make_host(tmp_path / "h")
    spec = str(host.spec_path)
    first = cli("gen", "runbooks", "--spec", spec)
    assert first.exit_code == 0, first.output
    names = sorted(p.name for p in (host.root / "runbooks").iterdir())
    assert names == [
        "bad-deploy.md",
        "callback-backlog.md",
        "dead-letters.md",
        "provider-outage.md",
        "runbooks.yaml",
        "stalled-queue.md",
    ]
    bad_deploy = (host.root / "runbooks" / "bad-deploy.md").read_text()
    assert "# shop: a deploy broke it" in bad_deploy and "parapet-shop-overview" in bad_deploy
    again = cli("gen", "runbooks", "--spec", spec)
    assert again.exit_code == 0 and "6 identical" in again.output
    assert cli("gen", "runbooks", "--spec", spec, "--check").exit_code == 0
    (host.root / "runbooks" / "stalled-queue.md").write_text("# ours now\n")
    drift = cli("gen", "runbooks", "--spec", spec, "--check")
    assert drift.exit_code == 1 and "stalled-queue.md" in drift.output
    # the snippet attaches the templates: pasted under runbooks:, it loads
    snippet = (host.root / "runbooks" / "runbooks.yaml").read_text().split("runbooks:\n", 1)[1]
    (host.root / "with.yaml").write_text(HEAD.split("runbooks:\n")[0] + "runbooks:\n" + snippet)
    loaded = load_spec(host.root / "with.yaml")
    assert [r.name for r in loaded.runbooks] == [
        "stalled-queue",
        "dead-letters",
        "provider-outage",
        "callback-backlog",
        "bad-deploy",
    ]
    assert loaded.runbooks[0].steps[0].file == host.root / "runbooks" / "stalled-queue.md"


def test_the_worker_refuses_an_unimportable_callable_too(cli, host: Host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from parapet.evidence.db import create_engine_for
    from parapet.evidence.schema import metadata

    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_engine_for(url)
    metadata.create_all(engine)
    engine.dispose()
    host.spec_path.write_text(host.spec_path.read_text().replace(".ops:hang", ".ops:no_such_function"))
    result = cli("worker", "--once", "--spec", str(host.spec_path), "--database-url", url)
    assert result.exit_code == 3, result.output
    assert "has no 'no_such_function'" in result.stderr and "hint: define no_such_function" in result.stderr
