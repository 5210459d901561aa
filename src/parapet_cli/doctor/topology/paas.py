"""Platform files: Procfiles (Heroku, Dokku: scaled outside the repository, so replicas are unknown) and Render's
``render.yaml`` (``numInstances``, ``scaling``)."""

from __future__ import annotations

from parapet.spec.source import SourceDocument
from parapet_cli.doctor.topology.model import Line, Process
from parapet_cli.doctor.topology.yamlpath import get, yline


def parse_procfile(rel: str, lines: list[str]) -> list[Process]:
    out: list[Process] = []
    for number, raw in enumerate(lines, start=1):
        name, sep, command = raw.partition(":")
        if not sep or raw.lstrip().startswith("#") or not name.strip().isidentifier():
            continue
        kind = "init" if name.strip() == "release" else "service"
        process = Process(name.strip(), "Procfile", rel, number, replicas=None, kind=kind)
        process.command_line = Line(rel, number, command.strip())
        out.append(process)
    return out


def parse_render(rel: str, doc: SourceDocument) -> list[Process]:
    services = get(doc.data, "services")
    if not isinstance(services, list):
        return []
    out: list[Process] = []
    for i, svc in enumerate(services):
        if not isinstance(svc, dict):
            continue
        count = svc.get("numInstances", 1)
        command = svc.get("startCommand") or svc.get("dockerCommand")
        line = yline(doc, "services", i, "startCommand" if "startCommand" in svc else "dockerCommand")
        out.append(
            Process(
                name=str(svc.get("name") or i),
                origin="render.yaml service",
                path=rel,
                line=yline(doc, "services", i),
                replicas=count if isinstance(count, int) else None,
                many=isinstance(svc.get("scaling"), dict),
                kind="cronjob" if svc.get("type") == "cron" else "service",
                command_line=Line(rel, line, str(command)) if command else None,
            )
        )
    return out
