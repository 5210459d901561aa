"""Topology inference: replicas and workers from manifests, charts, Compose and server settings; the spec wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from parapet.errors import SpecError
from parapet.spec import load_spec
from tests.doctor.helpers import copy_fixture, doctor, found, topology, write

SPEC = """\
version: parapet/v1
service: shop
alerting:
  runbook_url: https://runbooks.example.com/{slo}
slos:
  - name: availability
    objective: 99.9
    sli:
      http: {}
"""


def test_helm_values_with_autoscaling_count_as_several(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "chart/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
            "chart/values.yaml": "replicaCount: 1\nautoscaling:\n  enabled: true\n  maxReplicas: 10\n",
            "chart/templates/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nspec:\n"
            "  replicas: {{ .Values.replicaCount }}\n",
        },
    )
    topo = topology(tmp_path)
    assert topo.multi_node() is True
    assert [(p.origin, p.name, p.many) for p in topo.processes] == [("Helm values", "shop", True)]


def test_helm_values_per_component(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "deploy/shop/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
            "deploy/shop/values.yaml": "web:\n  replicaCount: 3\n  command: [gunicorn, shop.wsgi, -w, '2']\n"
            "beat:\n  replicaCount: 1\n  command: [celery, -A, shop, beat]\n",
        },
    )
    topo = topology(tmp_path)
    assert topo.replicas == 3 and topo.workers == 2
    beat = next(p for p in topo.processes if p.name == "shop/beat")
    assert beat.multi is False


def test_hpa_marks_its_target_autoscaled(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "k8s/web.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n"
            "    spec:\n      containers:\n        - name: web\n          image: shop\n"
            "          command: [uvicorn, app:app, --workers, '3']\n",
            "k8s/hpa.yaml": "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\n"
            "spec:\n  scaleTargetRef: {kind: Deployment, name: web}\n  minReplicas: 1\n  maxReplicas: 8\n",
        },
    )
    topo = topology(tmp_path)
    assert topo.many is True and topo.multi_node() is True
    assert topo.workers == 3


def test_compose_override_is_development_only(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "docker-compose.yml": "services:\n  web:\n    image: shop\n    command: gunicorn shop.wsgi\n",
            "docker-compose.override.yml": "services:\n  web:\n    image: shop\n    command: gunicorn shop.wsgi\n"
            "    deploy: {replicas: 5}\n",
        },
    )
    topo = topology(tmp_path)
    assert topo.replicas == 1 and topo.workers == 1
    assert topo.multi() is False


def test_web_concurrency_from_the_environment(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "gunicorn.conf.py": 'import os\n\nworkers = int(os.environ.get("WEB_CONCURRENCY", 2))\n',
            "Dockerfile": "FROM python:3.12\nENV WEB_CONCURRENCY=6\nCMD gunicorn -c gunicorn.conf.py app:app\n",
        },
    )
    topo = topology(tmp_path)
    assert topo.workers == 6
    assert topo.workers_at is not None and topo.workers_at.path == "Dockerfile" and topo.workers_at.line == 2
    assert topo.replicas is None and topo.multi_node() is None


def test_unknown_topology_lowers_the_severity(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app.py": "from apscheduler.schedulers.background import BackgroundScheduler\n\n"
            "scheduler = BackgroundScheduler()\nscheduler.start()\n",
        },
    )
    report = doctor(tmp_path, "PAR102")
    assert found(report, "PAR102") == [("app.py", 4, "warning")]
    assert "topology unknown" in report.active[0].finding.message


def test_declared_topology_wins(tmp_path: Path) -> None:
    root = copy_fixture("par101-bad", tmp_path)
    assert found(doctor(root, "PAR101"), "PAR101") == [("k8s/beat.yaml", 16, "error")]
    (root / "parapet.yaml").write_text(SPEC + "topology:\n  replicas: 3\n  services:\n    beat: 1\n")
    report = doctor(root, "PAR101")
    assert found(report, "PAR101") == []
    assert report.topology is not None and report.topology.declared


def test_declared_single_node_silences_multi_node_checks(tmp_path: Path) -> None:
    root = copy_fixture("par104-bad", tmp_path)
    (root / "parapet.yaml").write_text(SPEC + "topology:\n  replicas: 1\n  workers: 1\n")
    assert found(doctor(root, "PAR104"), "PAR104") == []


def test_topology_block_refuses_unknown_keys(tmp_path: Path) -> None:
    spec = tmp_path / "parapet.yaml"
    spec.write_text(SPEC + "topology:\n  replicas: 2\n  nodes: 3\n")
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    assert exc.value.location.line == 12
    spec.write_text(SPEC + "topology:\n  replicas: 0\n")
    with pytest.raises(SpecError):
        load_spec(spec)


def test_spec_suppressions_need_a_reason(tmp_path: Path) -> None:
    spec = tmp_path / "parapet.yaml"
    spec.write_text(SPEC + "doctor:\n  ignore:\n    - rule: PAR106\n")
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    assert "reason" in exc.value.render()
    spec.write_text(
        SPEC + "doctor:\n  ignore:\n    - rule: PAR106\n      reason: internal port\n      path: app/*.py\n"
    )
    loaded = load_spec(spec)
    assert [(s.rule, s.path, s.reason, s.line) for s in loaded.suppressions] == [
        ("PAR106", "app/*.py", "internal port", 12)
    ]
