"""``parapet install --with k8s``: Kubernetes manifests for the Prometheus Operator and Grafana's sidecar.

Under ``k8s/parapet/`` (relative to the repository root), whatever the host's own manifests look like:

    prometheusrule.yaml        a PrometheusRule holding exactly the rule groups of ``parapet gen slo``
    servicemonitor.yaml        a ServiceMonitor that scrapes the service's ``/metrics``
    grafana-dashboards.yaml    one ConfigMap per dashboard, labelled ``grafana_dashboard: "1"`` for the
                               Grafana sidecar (kube-prometheus-stack's default label), in a Parapet folder

No namespace is set: ``kubectl apply -n <namespace> -f k8s/parapet/`` (or a kustomization) chooses it.
The ServiceMonitor selects the host's Service by the labels of a Service manifest found in the repository
(and its first named port); without one it assumes ``app.kubernetes.io/name: <service>`` and a port named
``http``, and says so in a comment. Deterministic like every generator: no clock, sorted where order is free.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Final

from parapet.spec.model import Spec
from parapet_cli import yamlout
from parapet_cli.generators import PlannedFile, header
from parapet_cli.generators.slo_rules import rule_groups

GENERATOR: Final = "k8s"
DIR: Final = "k8s/parapet"
DASHBOARD_LABEL: Final = "grafana_dashboard"  # the sidecar's default label (kube-prometheus-stack)
FOLDER_ANNOTATION: Final = "grafana_folder"  # read when the sidecar sets folderAnnotation to it
MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "parapet"}


@dataclass(frozen=True)
class ServiceRef:
    """How a ServiceMonitor finds the host's Service: its labels and the name of its metrics port."""

    labels: tuple[tuple[str, str], ...]
    port: str
    found_in: str | None = None  # the manifest it was read from; None: an assumption
    port_named: bool = True  # False: the Service's port has no name, and a ServiceMonitor needs one


def dns_name(*parts: str, limit: int = 63) -> str:
    """A Kubernetes object name (DNS-1123 label): lowercase, ``-`` for anything else, a hash when long."""
    raw = "-".join(parts)
    clean = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-") or "parapet"
    if len(clean) <= limit:
        return clean
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:8]
    return f"{clean[: limit - 9].rstrip('-')}-{digest}"


def default_service(spec: Spec) -> ServiceRef:
    return ServiceRef((("app.kubernetes.io/name", dns_name(spec.service)),), "http")


def _labels(spec: Spec) -> dict[str, str]:
    return {"app.kubernetes.io/name": dns_name(spec.service), **MANAGED_BY}


def prometheus_rule(spec: Spec, spec_name: str) -> PlannedFile:
    body = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": dns_name("parapet", spec.service, "slo"), "labels": _labels(spec)},
        "spec": {"groups": rule_groups(spec)},
    }
    note = (
        "# The rule groups of `parapet gen slo`, for the Prometheus Operator. If your Prometheus selects rules by\n"
        "# label (kube-prometheus-stack's ruleSelector wants `release: <its release>`), add that label in a\n"
        "# kustomization rather than here.\n"
    )
    return PlannedFile("prometheusrule.yaml", yamlout.dump(body, header(spec_name) + note), GENERATOR)


def service_monitor(spec: Spec, spec_name: str, service: ServiceRef) -> PlannedFile:
    body = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": dns_name(spec.service), "labels": _labels(spec)},
        "spec": {
            "selector": {"matchLabels": dict(service.labels)},
            "endpoints": [{"port": service.port, "path": "/metrics", "interval": "30s"}],
        },
    }
    if service.found_in is not None:
        note = f"# Selects the Service in {service.found_in} by its labels and scrapes its port {service.port}.\n"
        if not service.port_named:
            note += (
                f"# That Service's port has no name: name it {service.port} (ServiceMonitors scrape ports by name).\n"
            )
    else:
        note = (
            "# No Service manifest was found in the repository: this assumes your Service is labelled\n"
            f"# app.kubernetes.io/name: {dns_name(spec.service)} and names its metrics port {service.port}.\n"
            "# Label it so, or add its manifest to the repository and re-run parapet install.\n"
        )
    return PlannedFile("servicemonitor.yaml", yamlout.dump(body, header(spec_name) + note), GENERATOR)


def dashboard_config_maps(spec: Spec, spec_name: str, dashboards: list[tuple[str, bytes]]) -> PlannedFile:
    """``dashboards``: (file name, JSON) pairs. One ConfigMap each keeps every object under 1 MiB."""
    docs: list[bytes] = []
    for name, content in sorted(dashboards):
        stem = name.removesuffix(".json")
        key = re.sub(r"[^-._a-zA-Z0-9]", "-", name)
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": dns_name("parapet", spec.service, stem),
                "labels": {**_labels(spec), DASHBOARD_LABEL: "1"},
                "annotations": {FOLDER_ANNOTATION: f"Parapet {spec.service}"},
            },
            "data": {key: content.decode("utf-8").rstrip("\n")},
        }
        docs.append(yamlout.dump(body))
    note = '# Grafana dashboards for the sidecar of kube-prometheus-stack\'s Grafana (label grafana_dashboard: "1").\n'
    text = (header(spec_name) + note).encode("utf-8") + b"---\n".join(docs)
    return PlannedFile("grafana-dashboards.yaml", text, GENERATOR)


def generate(
    spec: Spec, spec_name: str, dashboards: list[tuple[str, bytes]], service: ServiceRef | None = None
) -> list[PlannedFile]:
    """The PrometheusRule, the ServiceMonitor and the dashboards' ConfigMaps, paths relative to ``DIR``."""
    return [
        prometheus_rule(spec, spec_name),
        service_monitor(spec, spec_name, service or default_service(spec)),
        dashboard_config_maps(spec, spec_name, dashboards),
    ]


def service_from_manifests(documents: list[tuple[str, Any]], spec: Spec) -> ServiceRef | None:
    """The host's Service among parsed manifests ``(file, document)``: the one named like the service if
    there is one, else the only Service. Its metadata labels select it; its first named port is scraped."""
    services = [
        (rel, doc)
        for rel, doc in documents
        if isinstance(doc, dict)
        and doc.get("kind") == "Service"
        and isinstance(doc.get("metadata"), dict)
        and isinstance(doc["metadata"].get("labels"), dict)
        and doc["metadata"]["labels"]
    ]
    named = [s for s in services if s[1]["metadata"].get("name") in (spec.service, dns_name(spec.service))]
    chosen = named[0] if named else services[0] if len(services) == 1 else None
    if chosen is None:
        return None
    rel, doc = chosen
    labels = tuple(sorted((str(k), str(v)) for k, v in doc["metadata"]["labels"].items()))
    ports = (doc.get("spec") or {}).get("ports") or []
    names = [str(p["name"]) for p in ports if isinstance(p, dict) and p.get("name")]
    where = f"{rel} (Service {doc['metadata'].get('name')})"
    return ServiceRef(labels, names[0] if names else "http", where, port_named=bool(names))
