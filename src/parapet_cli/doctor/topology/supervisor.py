"""Process supervisors inside a container: supervisord's ``[program:x]`` sections (``command``, ``numprocs``) and
s6-overlay services (``s6-rc.d/NAME/run`` with ``type`` longrun or oneshot; ``services.d/NAME/run``). Each program
runs once per copy of the container whose image holds it, so it takes that container's replicas."""

from __future__ import annotations

from pathlib import PurePosixPath

from parapet_cli.doctor.topology.model import Line, Process, logical_lines
from parapet_cli.doctor.topology.shell import to_int


def parse_supervisord(rel: str, lines: list[str]) -> list[Process]:
    out: list[Process] = []
    current: Process | None = None
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith((";", "#")):
            continue
        if text.startswith("[") and text.endswith("]"):
            section = text[1:-1].strip()
            current = None
            if section.startswith("program:"):
                current = Process(section.removeprefix("program:"), "supervisord program", rel, number)
                out.append(current)
            continue
        key, sep, value = text.partition("=")
        if current is None or not sep:
            continue
        key, value = key.strip(), value.split(" ;", 1)[0].strip()
        if key == "command":
            current.command_line = Line(rel, number, value)
        elif key == "numprocs":
            current.numprocs = to_int(value) or 1
    return [p for p in out if p.command_line is not None]


def s6_service(rel: str, lines: list[str], kind_text: str | None) -> Process | None:
    """The s6 service whose ``run`` script is ``rel`` (``up`` for oneshots names the script it runs)."""
    path = PurePosixPath(rel)
    parts = path.parts
    if path.name not in ("run", "up") or len(parts) < 3 or parts[-3] not in ("s6-rc.d", "services.d"):
        return None
    if parts[-3] == "s6-rc.d" and kind_text is None:
        return None
    kind = (kind_text or "longrun").strip()
    if kind not in ("longrun", "oneshot") or path.name == "up":
        return None  # a oneshot's ``up`` names its ``run`` script, which is read as the service
    process = Process(parts[-2], "s6 service", rel, 1, kind="service" if kind == "longrun" else "init")
    process.script.extend(logical_lines(rel, lines))
    return process if process.script else None
