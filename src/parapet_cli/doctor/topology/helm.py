"""Helm charts' ``values.yaml``: ``replicaCount`` (or ``replicas``) and ``autoscaling.enabled``, for the chart and
for each component one level down (``web:``, ``beat:``), with its ``command``/``args`` and ``image``."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from parapet.spec.source import SourceDocument
from parapet_cli.doctor.topology.model import Line, Process
from parapet_cli.doctor.topology.shell import command_text
from parapet_cli.doctor.topology.yamlpath import yline


def is_values(name: str) -> bool:
    return name in ("values.yaml", "values.yml")


def parse(rel: str, doc: SourceDocument, chart: str | None = None) -> list[Process]:
    """The processes ``values.yaml`` scales; ``chart`` is the name Chart.yaml gives (else the folder's)."""
    data = doc.data
    chart = chart or PurePosixPath(rel).parent.name or "chart"
    candidates: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [(chart, data, ())]
    for key, value in data.items():
        if isinstance(value, dict) and ("replicaCount" in value or "replicas" in value):
            candidates.append((f"{chart}/{key}", value, (str(key),)))
    out: list[Process] = []
    for name, values, loc in candidates:
        count = values.get("replicaCount", values.get("replicas"))
        autoscaling = values.get("autoscaling")
        if count is None and not isinstance(autoscaling, dict):
            continue
        many = isinstance(autoscaling, dict) and autoscaling.get("enabled") is True
        key = "replicaCount" if "replicaCount" in values else "replicas"
        parts = [command_text(values.get(k)) for k in ("command", "args")]
        command = " ".join(p for p in parts if p)
        image = values.get("image")
        repository = image.get("repository") if isinstance(image, dict) else image
        out.append(
            Process(
                name=name,
                origin="Helm values",
                path=rel,
                line=yline(doc, *loc, key) if count is not None else yline(doc, *loc, "autoscaling"),
                replicas=count if isinstance(count, int) else None,
                many=many,
                image=repository if isinstance(repository, str) else None,
                command_line=Line(rel, yline(doc, *loc, "command"), command) if command else None,
            )
        )
    return out
