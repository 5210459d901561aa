"""Dockerfiles: the environment, the command and the entrypoint of the last stage."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator

from parapet_cli.doctor.topology.model import Dockerfile, Line


def parse_dockerfile(rel: str, text: str) -> Dockerfile:
    """The last stage: its ENV (with those of the stage it starts from), CMD and ENTRYPOINT; the COPY lines of
    every stage (a file copied into an early stage reaches the last one through ``COPY --from``)."""
    out = Dockerfile(rel)
    stages: dict[str, Dockerfile] = {}
    for number, line in _logical_lines(text):
        instr, _, rest = line.strip().partition(" ")
        instr = instr.upper()
        rest = rest.strip()
        at = Line(rel, number, rest)
        if instr == "FROM":
            parts = [w for w in rest.split() if not w.startswith("--")]
            parent = stages.get(parts[0].lower()) if parts else None
            copies = out.copy
            out = Dockerfile(rel, copy=copies)
            if parent is not None:
                out.env, out.cmd, out.entrypoint = dict(parent.env), parent.cmd, parent.entrypoint
                out.workdir = parent.workdir
            if len(parts) >= 3 and parts[1].lower() == "as":
                stages[parts[2].lower()] = out
        elif instr == "ENV":
            for name, value in _env_pairs(rest):
                out.env[name] = (value, Line(rel, number, line.strip()))
        elif instr == "RUN":
            out.run.append(at)
        elif instr in ("COPY", "ADD"):
            out.copy.append(at)
        elif instr == "WORKDIR":
            out.workdir = rest
        elif instr == "CMD":
            out.cmd = Line(rel, number, _exec_form(rest))
        elif instr == "ENTRYPOINT":
            out.entrypoint = Line(rel, number, _exec_form(rest))
    return out


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    start: int | None = None
    buf: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if start is None:
            start = number
        if stripped.endswith("\\"):
            buf.append(stripped[:-1])
            continue
        buf.append(stripped)
        yield start, " ".join(buf)
        buf, start = [], None
    if buf and start is not None:
        yield start, " ".join(buf)


def _exec_form(rest: str) -> str:
    if rest.startswith("["):
        try:
            parts = json.loads(rest)
        except ValueError:
            return rest
        if isinstance(parts, list):
            return shlex.join(str(p) for p in parts)
    return rest


def _env_pairs(rest: str) -> list[tuple[str, str]]:
    try:
        tokens = shlex.split(rest, comments=True)
    except ValueError:
        tokens = rest.split()
    if tokens and "=" not in tokens[0]:
        return [(tokens[0], " ".join(tokens[1:]))]  # ENV NAME value
    return [(k, v) for k, _, v in (t.partition("=") for t in tokens if "=" in t)]
