"""``parapet install --with alertmanager,compose,k8s,ui``: what each extra writes, checked by its consumer
(promtool, amtool) or structurally, idempotent by tree hash, and the errors of ``--with``."""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path
from typing import Any

import yaml

from parapet.spec import load_spec
from tests.conftest import run_promtool, tree_hash
from tests.install.deploy_helpers import am_check, am_routes, make_host, only_insertions

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
COMPOSE = (
    "# the shop and its database\n"
    "services:\n"
    "  web:\n"
    "    build: .\n"
    "    command: uvicorn app:app --host 0.0.0.0\n"
    "    ports: ['8080:8000']\n"
    "  db:\n"
    "    image: postgres:16\n"
)
K8S_APP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: web, image: shop:1, ports: [{containerPort: 8000}]}]
---
apiVersion: v1
kind: Service
metadata:
  name: shop
  labels: {app: shop, tier: web}
spec:
  selector: {app: shop}
  ports: [{name: web, port: 80, targetPort: 8000}]
"""


def edit_spec(host: Path) -> None:
    spec = host / "parapet.yaml"
    spec.write_text(spec.read_text().replace("  - pack: web", "  - pack: web\n    availability: 99.5"))


# --- --with itself ---------------------------------------------------------------------------------------


def test_an_unknown_extra_is_a_usage_error_listing_the_valid_ones(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = make_host(tmp_path, {})
    before = tree_hash(host)
    result = cli("install", str(host), "--with", "k8s,grafana")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        "error: unknown extra 'grafana' for --with",
        "hint: choose from alertmanager, compose, k8s, ui (repeat --with, or separate them with commas)",
    ]
    assert tree_hash(host) == before


def test_ui_adds_only_the_mount(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--with ui writes no file of its own (without --eject): the app gains the mount and its import."""
    plain = make_host(tmp_path / "a", {})
    with_ui = make_host(tmp_path / "b", {})
    assert cli("install", str(plain)).exit_code == 0
    result = cli("install", str(with_ui), "--with", "ui")
    assert result.exit_code == 0, result.output
    assert set(tree_hash(with_ui)) == set(tree_hash(plain))
    added = only_insertions((plain / "app.py").read_text(), (with_ui / "app.py").read_text())
    assert [line.strip() for line in added] == [
        "from parapet.web import create_app",
        "app.mount('/parapet', create_app(spec_path='parapet.yaml'))  # parapet: managed",  # the app's quotes
    ]
    # the starter spec points the webhook at the token file Alertmanager is told to send
    spec = load_spec(with_ui / "parapet.yaml")
    assert spec.alertmanager.webhook_token_file == with_ui / "alertmanager/secrets/parapet-webhook-token"
    assert load_spec(plain / "parapet.yaml").alertmanager.webhook_token_file is None
    assert "reads its bearer token from alertmanager/secrets/parapet-webhook-token" in result.stderr


# --- alertmanager ------------------------------------------------------------------------------------------


def test_alertmanager_writes_a_starter_once_then_merges_into_it(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    host = make_host(tmp_path, {})
    monkeypatch.chdir(host)  # run from the host's root, as a user does: paths print relative to it
    result = cli("install", str(host), "--with", "alertmanager")
    assert result.exit_code == 0, result.output
    path = host / "alertmanager/alertmanager.yml"
    assert "create alertmanager/alertmanager.yml" in result.stderr
    assert am_check(path).returncode == 0
    assert am_routes(path, "service=shop") == ["parapet-shop"]
    assert am_routes(path, "service=other") == ["default"]
    assert "credentials_file: secrets/parapet-webhook-token" in path.read_text()
    assert not (host / "alertmanager/secrets").exists()  # Parapet never writes a secret
    assert "alertmanager.yml" not in (host / ".parapet/manifest.json").read_text()  # the host's, not Parapet's
    doctor = cli("doctor", "PAR204", "-C", str(host))  # the receiver is routed to and authenticates
    assert doctor.exit_code == 0 and "0 error, 0 warning" in doctor.output, doctor.output

    before = tree_hash(host)
    again = cli("install", str(host))  # found by detection now: merged, and nothing to add
    assert again.exit_code == 0 and "identical alertmanager/alertmanager.yml" in again.stderr
    assert tree_hash(host) == before

    # the team makes it theirs: a receiver of their own as the default; Parapet's entries stay, nothing is re-added
    text = (
        path.read_text()
        .replace("receiver: default", "receiver: team")
        .replace(
            "  - name: default  #",
            "  - name: team\n    webhook_configs: [{url: 'https://chat.example.com/hook'}]\n  - name: default  #",
        )
    )
    path.write_text(text)
    assert cli("install", str(host), "--check").exit_code == 0
    assert am_check(path).returncode == 0


# --- compose -----------------------------------------------------------------------------------------------


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    return [tuple(v.split(":")[:2]) for v in service.get("volumes", [])]  # type: ignore[misc]


def test_compose_adds_an_override_wired_to_what_install_wrote(cli, tmp_path: Path, promtool: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    host = make_host(tmp_path, {"compose.yaml": COMPOSE})
    monkeypatch.chdir(host)  # run from the host's root, as a user does: paths print relative to it
    result = cli("install", str(host), "--with", "compose")
    assert result.exit_code == 0, result.output
    assert (host / "compose.yaml").read_text() == COMPOSE  # the host's compose file keeps every byte
    for created in (
        "compose.parapet.yaml",
        "prometheus/prometheus.yml",
        "alertmanager/alertmanager.yml",
        "grafana/provisioning/datasources/parapet-prometheus.yml",
    ):
        assert f"create {created}" in result.stderr

    override = yaml.safe_load((host / "compose.parapet.yaml").read_text())
    services = override["services"]
    assert set(services) == {"prometheus", "alertmanager", "grafana"}
    for svc in services.values():
        image = svc["image"]
        assert re.search(r":v?\d+\.\d+\.\d+$", image), image  # pinned
        for source, _ in _mounts(svc):
            assert (host / source).exists(), source  # every mount is something install wrote or found
    secret = override["secrets"]["parapet_webhook_token"]["file"]
    assert secret == "./alertmanager/secrets/parapet-webhook-token" and not (host / secret).exists()

    # Prometheus in the container finds the rules where prometheus.yml's rule_files entry points
    prometheus_yml = yaml.safe_load((host / "prometheus/prometheus.yml").read_text())
    entry_dir = posixpath.dirname(prometheus_yml["rule_files"][0])
    mounts = dict(_mounts(services["prometheus"]))
    assert mounts["./prometheus/rules"] == posixpath.normpath(posixpath.join("/etc/prometheus", entry_dir))
    assert prometheus_yml["scrape_configs"][0]["static_configs"][0]["targets"] == ["web:8000"]
    assert prometheus_yml["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    checked = run_promtool(promtool, "check", "config", "prometheus/prometheus.yml", cwd=host)
    assert checked.returncode == 0 and "1 rule files found" in checked.stdout, checked.stdout + checked.stderr

    # Alertmanager reads the token from the secret's target, where alertmanager.yml's credentials_file points
    am_yml = yaml.safe_load((host / "alertmanager/alertmanager.yml").read_text())
    hook = next(r for r in am_yml["receivers"] if r["name"] == "parapet-shop")["webhook_configs"][0]
    assert hook["url"] == "http://web:8000/parapet/webhook"
    credentials = hook["http_config"]["authorization"]["credentials_file"]
    assert services["alertmanager"]["secrets"][0]["target"] == posixpath.join("/etc/alertmanager", credentials)
    assert am_check(host / "alertmanager/alertmanager.yml").returncode == 0

    # Grafana loads the dashboards from where the generated provider says they are
    provider = yaml.safe_load((host / "grafana/provisioning/dashboards/parapet-shop.yml").read_text())
    grafana = dict(_mounts(services["grafana"]))
    assert provider["providers"][0]["options"]["path"].startswith(grafana["./grafana/dashboards"])

    # idempotent, and the extra stays on without --with: a hand edit of the override is a conflict
    before = tree_hash(host)
    again = cli("install", str(host))
    assert again.exit_code == 0 and "identical compose.parapet.yaml" in again.stderr
    assert tree_hash(host) == before
    override_path = host / "compose.parapet.yaml"
    override_path.write_text(override_path.read_text() + "# mine\n")
    conflict = cli("install", str(host))
    assert conflict.exit_code == 3 and "conflict compose.parapet.yaml" in conflict.stderr
    assert override_path.read_text().endswith("# mine\n")


def test_compose_leaves_out_a_service_the_host_already_runs(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    compose = COMPOSE + "  prometheus:\n    image: prom/prometheus:v2.53.0\n"
    host = make_host(tmp_path, {"docker-compose.yml": compose})
    result = cli("install", str(host), "--with", "compose")
    assert result.exit_code == 0, result.output
    services = yaml.safe_load((host / "compose.parapet.yaml").read_text())["services"]
    assert set(services) == {"alertmanager", "grafana"}
    assert "depends_on" not in services["grafana"]
    assert "docker-compose.yml already has a prometheus service" in result.stderr
    assert "-f docker-compose.yml -f compose.parapet.yaml" in (host / "compose.parapet.yaml").read_text()


def test_compose_without_a_compose_file_says_so_and_writes_no_override(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = make_host(tmp_path, {})
    result = cli("install", str(host), "--with", "compose")
    assert result.exit_code == 0, result.output
    assert "--with compose: no compose file in the repository" in result.stderr
    assert not (host / "compose.parapet.yaml").exists()


# --- k8s ---------------------------------------------------------------------------------------------------


def _object(doc: dict[str, Any]) -> None:
    assert set(doc) >= {"apiVersion", "kind", "metadata"}
    meta = doc["metadata"]
    assert DNS_LABEL.match(meta["name"]) and len(meta["name"]) <= 63, meta["name"]
    assert "namespace" not in meta  # kubectl apply -n chooses it
    for key, value in meta.get("labels", {}).items():
        assert isinstance(value, str) and LABEL_VALUE.match(value) and len(value) <= 63, (key, value)


def _docs(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    for doc in docs:
        _object(doc)
    return docs


def test_k8s_manifests_hold_the_generated_rules_and_dashboards(cli, tmp_path: Path, promtool: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    host = make_host(tmp_path, {"deploy/app.yaml": K8S_APP})
    monkeypatch.chdir(host)  # run from the host's root, as a user does: paths print relative to it
    result = cli("install", str(host), "--with", "k8s", "--with", "alertmanager")  # repeated --with
    assert result.exit_code == 0, result.output
    out = host / "k8s/parapet"
    assert sorted(p.name for p in out.iterdir()) == [
        "grafana-dashboards.yaml",
        "prometheusrule.yaml",
        "servicemonitor.yaml",
    ]
    assert (host / "alertmanager/alertmanager.yml").exists()

    (rule,) = _docs(out / "prometheusrule.yaml")
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    rules_file = yaml.safe_load((host / "prometheus/rules/shop.slo.rules.yml").read_text())
    assert rule["spec"]["groups"] == rules_file["groups"]
    extracted = tmp_path / "extracted.rules.yml"
    extracted.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    checked = run_promtool(promtool, "check", "rules", str(extracted))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    (monitor,) = _docs(out / "servicemonitor.yaml")
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "ServiceMonitor")
    assert monitor["spec"]["selector"] == {"matchLabels": {"app": "shop", "tier": "web"}}  # from deploy/app.yaml
    assert monitor["spec"]["endpoints"] == [{"port": "web", "path": "/metrics", "interval": "30s"}]

    maps = _docs(out / "grafana-dashboards.yaml")
    boards = sorted((host / "grafana/dashboards/shop").glob("*.json"))
    assert len(maps) == len(boards) == 3
    for config_map in maps:
        assert (config_map["apiVersion"], config_map["kind"]) == ("v1", "ConfigMap")
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((key, value),) = config_map["data"].items()
        assert json.loads(value) == json.loads((host / "grafana/dashboards/shop" / key).read_text())

    before = tree_hash(host)
    assert cli("install", str(host)).exit_code == 0
    assert tree_hash(host) == before

    # the extra stays on: a spec edit is drift in the PrometheusRule too, and install brings it back in line
    edit_spec(host)
    drift = cli("install", str(host), "--check")
    assert drift.exit_code == 1 and "update k8s/parapet/prometheusrule.yaml" in drift.stderr
    assert cli("install", str(host)).exit_code == 0
    (rule,) = _docs(out / "prometheusrule.yaml")
    assert (
        rule["spec"]["groups"] == yaml.safe_load((host / "prometheus/rules/shop.slo.rules.yml").read_text())["groups"]
    )
    assert cli("install", str(host), "--check").exit_code == 0


def test_k8s_without_a_service_manifest_assumes_and_says_so(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = make_host(tmp_path, {}, name="Shop_API")
    result = cli("install", str(host), "--with", "k8s")
    assert result.exit_code == 0, result.output
    assert "no Service manifest in the repository" in result.stderr
    (monitor,) = _docs(host / "k8s/parapet/servicemonitor.yaml")
    assert monitor["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "shop-api"}}
    for config_map in _docs(host / "k8s/parapet/grafana-dashboards.yaml"):
        assert config_map["metadata"]["name"].startswith("parapet-shop-api-")
