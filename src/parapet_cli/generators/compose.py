"""``parapet install --with compose``: Prometheus, Alertmanager and Grafana beside the host's compose services.

A separate override file, ``compose.parapet.yaml`` next to the host's compose file, rather than an edit of
the host's file: the three services, their mounts and a secret are a dozen lines that are all Parapet's, so
they are a generated file like the others (manifest, conflict on a hand edit, regenerated from the spec),
the host's compose file keeps every byte, and removing the stack is deleting one file. Compose merges it
when asked: ``docker compose -f compose.yaml -f compose.parapet.yaml up``, or ``COMPOSE_FILE`` in ``.env``.

The services mount what ``parapet install`` wrote or merged (paths relative to the compose file):

    prometheus     prometheus.yml at /etc/prometheus/prometheus.yml, the rules directory where that
                   file's rule_files entry (relative to it) points inside the container
    alertmanager   alertmanager.yml, and the webhook token as a compose secret at the path its
                   credentials_file names (relative to it)
    grafana        grafana/provisioning (Parapet's dashboard provider and a Prometheus datasource) and
                   grafana/dashboards at /var/lib/grafana/dashboards

A service the host's compose file already defines under the same name is left out (compose would merge
the two), and ``parapet install`` says which mounts to add to it.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any, Final

from parapet.spec.model import Spec
from parapet_cli import yamlout
from parapet_cli.generators import PlannedFile, header

GENERATOR: Final = "compose"
FILE: Final = "compose.parapet.yaml"
DATASOURCE_PATH: Final = "provisioning/datasources/parapet-prometheus.yml"  # under the Grafana directory
SECRET: Final = "parapet_webhook_token"
# Pinned images: Grafana at the schema the dashboards are built for (grafana-foundation-sdk 11.6).
IMAGES: Final = {
    "prometheus": "prom/prometheus:v3.5.0",
    "alertmanager": "prom/alertmanager:v0.28.1",
    "grafana": "grafana/grafana:11.6.0",
}
PORTS: Final = {"prometheus": 9090, "alertmanager": 9093, "grafana": 3000}
PROMETHEUS_DIR: Final = "/etc/prometheus"
ALERTMANAGER_DIR: Final = "/etc/alertmanager"
GRAFANA_DASHBOARDS: Final = "/var/lib/grafana/dashboards"  # as the dashboard provider expects


@dataclass(frozen=True)
class Layout:
    """Where things are, each path relative to the host's compose file (POSIX)."""

    compose_file: str  # the host's compose file name, for the header's command line
    prometheus_yml: str
    rules_dir: str
    rules_entry_dir: str  # the rules directory as prometheus.yml's rule_files names it (relative to it)
    alertmanager_yml: str
    secret_file: str  # the token file on the host
    credentials_file: str  # as alertmanager.yml names it (relative to it, or absolute)
    grafana_dir: str
    skip: frozenset[str] = frozenset()  # services the host's compose file already defines


def _local(path: str) -> str:
    path = posixpath.normpath(path)
    return path if path.startswith("../") else f"./{path}"


def in_container(base: str, path: str) -> str:
    """Where a path relative to a config file in ``base`` lands inside the container."""
    return posixpath.normpath(posixpath.join(base, path))


def services(layout: Layout) -> dict[str, Any]:
    rules_mount = in_container(PROMETHEUS_DIR, layout.rules_entry_dir)
    secret_target = in_container(ALERTMANAGER_DIR, layout.credentials_file)
    out: dict[str, Any] = {
        "alertmanager": {
            "image": IMAGES["alertmanager"],
            "command": [f"--config.file={ALERTMANAGER_DIR}/alertmanager.yml"],
            "ports": [f"127.0.0.1:{PORTS['alertmanager']}:{PORTS['alertmanager']}"],
            "secrets": [{"source": SECRET, "target": secret_target}],
            "volumes": [f"{_local(layout.alertmanager_yml)}:{ALERTMANAGER_DIR}/alertmanager.yml:ro"],
        },
        "grafana": {
            "image": IMAGES["grafana"],
            "depends_on": ["prometheus"],
            "ports": [f"127.0.0.1:{PORTS['grafana']}:{PORTS['grafana']}"],
            "volumes": [
                f"{_local(layout.grafana_dir + '/provisioning')}:/etc/grafana/provisioning:ro",
                f"{_local(layout.grafana_dir + '/dashboards')}:{GRAFANA_DASHBOARDS}:ro",
            ],
        },
        "prometheus": {
            "image": IMAGES["prometheus"],
            "command": [f"--config.file={PROMETHEUS_DIR}/prometheus.yml"],
            "depends_on": ["alertmanager"],
            "ports": [f"127.0.0.1:{PORTS['prometheus']}:{PORTS['prometheus']}"],
            "volumes": [
                f"{_local(layout.prometheus_yml)}:{PROMETHEUS_DIR}/prometheus.yml:ro",
                f"{_local(layout.rules_dir)}:{rules_mount}:ro",
            ],
        },
    }
    for name in layout.skip:
        out.pop(name, None)
    for body in out.values():
        needs = [d for d in body.pop("depends_on", []) if d in out]
        if needs:
            body["depends_on"] = needs
    return out


def override(spec: Spec, spec_name: str, layout: Layout) -> PlannedFile:
    chosen = services(layout)
    body: dict[str, Any] = {"services": chosen}
    if "alertmanager" in chosen:
        body["secrets"] = {SECRET: {"file": _local(layout.secret_file)}}
    note = (
        f"# Prometheus, Alertmanager and Grafana for {spec.service}, beside your own services:\n"
        f"#   docker compose -f {layout.compose_file} -f {FILE} up\n"
        f"# (or COMPOSE_FILE={layout.compose_file}:{FILE} in .env). Grafana: http://localhost:{PORTS['grafana']}\n"
    )
    return PlannedFile(FILE, yamlout.dump(body, header(spec_name) + note), GENERATOR)


def datasource(spec_name: str) -> PlannedFile:
    body = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": "parapet-prometheus",
                "type": "prometheus",
                "access": "proxy",
                "url": f"http://prometheus:{PORTS['prometheus']}",
                "isDefault": True,
            }
        ],
    }
    note = "# Grafana's datasource for the Prometheus of compose.parapet.yaml.\n"
    return PlannedFile(DATASOURCE_PATH, yamlout.dump(body, header(spec_name) + note), GENERATOR)
