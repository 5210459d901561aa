"""Kubernetes manifests: Deployments, StatefulSets, DaemonSets, Rollouts, Jobs, CronJobs and Pods, one process per
container (init containers run once per pod); an HorizontalPodAutoscaler marks its target autoscaled."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from parapet.spec.source import SourceDocument
from parapet_cli.doctor.topology.model import Line, Process
from parapet_cli.doctor.topology.shell import command_text
from parapet_cli.doctor.topology.yamlpath import get, yline

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Rollout", "DeploymentConfig")


def is_manifest(data: dict[str, Any]) -> bool:
    return isinstance(data.get("apiVersion"), str) and isinstance(data.get("kind"), str)


def hpa_target(doc: SourceDocument) -> str | None:
    """The workload an HorizontalPodAutoscaler scales."""
    if doc.data.get("kind") != "HorizontalPodAutoscaler":
        return None
    target = get(doc.data, "spec", "scaleTargetRef", "name")
    return target if isinstance(target, str) else None


def parse(rel: str, doc: SourceDocument) -> list[Process]:
    data = doc.data
    kind = data.get("kind")
    name = str(get(data, "metadata", "name") or PurePosixPath(rel).stem)
    if kind in WORKLOAD_KINDS:
        replicas = get(data, "spec", "replicas")
        count = replicas if isinstance(replicas, int) else (1 if replicas is None else None)
        return _pod(rel, doc, ("spec", "template", "spec"), name, str(kind), count, kind == "DaemonSet", "service")
    if kind == "Job":
        return _pod(rel, doc, ("spec", "template", "spec"), name, "Job", 1, False, "job")
    if kind == "CronJob":
        out = _pod(rel, doc, ("spec", "jobTemplate", "spec", "template", "spec"), name, "CronJob", 1, False, "cronjob")
        policy = get(data, "spec", "concurrencyPolicy")
        for process in out:
            process.concurrency_policy = policy if isinstance(policy, str) else None
        return out
    if kind == "Pod":
        return _pod(rel, doc, ("spec",), name, "Pod", 1, False, "service")
    return []


def _pod(
    rel: str,
    doc: SourceDocument,
    base: tuple[str, ...],
    name: str,
    origin: str,
    replicas: int | None,
    many: bool,
    kind: str,
) -> list[Process]:
    pod = get(doc.data, *base)
    if not isinstance(pod, dict):
        return []
    volumes = pod.get("volumes")
    scratch = isinstance(volumes, list) and any(isinstance(v, dict) and "emptyDir" in v for v in volumes)
    out: list[Process] = []
    for group, container_kind in (("initContainers", "init"), ("containers", kind)):
        containers = pod.get(group)
        if not isinstance(containers, list):
            continue
        for index, container in enumerate(containers):
            if not isinstance(container, dict):
                continue
            loc = (*base, group, index)
            cname = str(container.get("name") or index)
            command = " ".join(
                t for t in (command_text(container.get("command")), command_text(container.get("args"))) if t
            )
            cmd_key = "command" if "command" in container else "args"
            line = yline(doc, *loc, cmd_key) if command else yline(doc, *loc)
            image = container.get("image")
            process = Process(
                name=f"{name}/{cname}" if len(containers) > 1 or container_kind == "init" else name,
                origin=origin if container_kind != "init" else f"{origin} init container",
                path=rel,
                line=yline(doc, *base[:1]) if base else None,
                replicas=replicas,
                many=many,
                kind=container_kind,
                image=image if isinstance(image, str) else None,
                workload=name,
                scratch=scratch,
                command_line=Line(rel, line, command) if command else None,
                keeps_entrypoint="command" not in container,
            )
            env = container.get("env")
            if isinstance(env, list):
                for j, item in enumerate(env):
                    if isinstance(item, dict) and isinstance(item.get("name"), str):
                        value = item.get("value")
                        text = "" if value is None else str(value)
                        process.env[item["name"]] = (text, Line(rel, yline(doc, *loc, "env", j), item["name"]))
            out.append(process)
    return out
