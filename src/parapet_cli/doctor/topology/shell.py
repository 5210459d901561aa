"""Shell words of the commands processes run: flags, programs, variables, and the files they name."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any, TypeVar

T = TypeVar("T")

WEB_SERVERS = ("gunicorn", "uvicorn", "daphne", "hypercorn", "granian", "uwsgi", "waitress-serve")


def words(text: str) -> list[str]:
    """Shell words of a command line; quoted sub-commands (``sh -c "…"``) are split too."""
    try:
        parts = shlex.split(text, comments=True)
    except ValueError:
        parts = text.split()
    out: list[str] = []
    for part in parts:
        if " " in part.strip() and len(out) < 500:
            out.extend(words(part))
        else:
            out.append(part)
    return out


def base(word: str) -> str:
    return PurePosixPath(word).name


def words_run(text: str, programs: tuple[str, ...]) -> bool:
    return any(base(w) in programs for w in words(text))


def flag_value(tokens: list[str], *names: str) -> str | None:
    """The value of ``-w 4``, ``--workers 4``, ``--workers=4`` or ``-w4``."""
    for i, tok in enumerate(tokens):
        for name in names:
            if tok == name and i + 1 < len(tokens):
                return tokens[i + 1]
            if name.startswith("--") and tok.startswith(name + "="):
                return tok.split("=", 1)[1]
            if not name.startswith("--") and tok.startswith(name) and len(tok) > len(name) and tok[len(name)] != "-":
                return tok[len(name) :].lstrip("=")
    return None


def after(tokens: list[str], program: str) -> list[str] | None:
    """The words after ``program`` (matched by base name), or None when it is not run."""
    for i, tok in enumerate(tokens):
        if base(tok) == program or (program == "celery" and tok == "celery.__main__"):
            return tokens[i + 1 :]
        if tok == "-m" and i + 1 < len(tokens) and tokens[i + 1] == program:
            return tokens[i + 2 :]
    return None


def to_int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip().strip("'\"")
    return int(text) if text.isdigit() else None


_BRACED = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-=](.*))?\}$")
_PLAIN = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


def expand(word: str | None, env: Mapping[str, str], depth: int = 0) -> str | None:
    """``$NAME``, ``${NAME}`` or ``${NAME:-default}`` (defaults may nest) from ``env``, else the default; other
    words as they are."""
    if word is None:
        return None
    word = word.strip().strip("'\"")
    match = _BRACED.match(word) or _PLAIN.match(word)
    if match is None:
        return word
    value = env.get(match.group(1))
    if value not in (None, ""):
        return value
    default = match.group(2) if match.re is _BRACED else None
    if default is None or depth > 5:
        return None
    return expand(default, env, depth + 1)


_ASSIGN = re.compile(r"^(?:export\s+|declare\s+(?:-\w+\s+)*|readonly\s+)?([A-Za-z_][A-Za-z0-9_]*)=(\S*)")


def script_env(lines: Iterable[tuple[str, T]], env: Mapping[str, tuple[str, T]]) -> dict[str, tuple[str, T]]:
    """``env`` with the ``NAME=value`` / ``export NAME=${NAME:-value}`` assignments of a script applied in order;
    each value keeps where it was set (``T``)."""
    out = dict(env)
    for raw, where in lines:
        match = _ASSIGN.match(raw.strip())
        if match:
            value = expand(match.group(2), {k: v for k, (v, _) in out.items()})
            if value is not None and "$" not in value:
                known = out.get(match.group(1))
                out[match.group(1)] = (value, known[1] if known is not None and known[0] == value else where)
    return out


def inline_env(tokens: list[str]) -> dict[str, str]:
    """``NAME=value`` words before a command."""
    out = {}
    for tok in tokens:
        if re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", tok):
            key, _, value = tok.partition("=")
            out[key] = value
    return out


def normalize(path: str) -> str:
    parts: list[str] = []
    for part in PurePosixPath(path).parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part not in (".", "/"):
            parts.append(part)
    return "/".join(parts)


def find_file(word: str, files: Iterable[str], *, near: str | None = None) -> str | None:
    """The repository file a command names: the same path, else the longest repository path the word ends with
    (``/opt/app/docker/uwsgi.ini`` is ``docker/uwsgi.ini``), else a file of that name (the one nearest ``near``)."""
    want = normalize(word.strip("'\"").removeprefix("python:"))
    if not want:
        return None
    files = list(files)
    if near is not None:
        joined = normalize(f"{near}/{want}") if near else want
        if joined in files:
            return joined
    if want in files:
        return want
    suffix = [f for f in files if want.endswith("/" + f)]
    if suffix:
        return max(suffix, key=len)
    named = [f for f in files if base(f) == base(want)]
    if not named:
        return None
    if near is not None:
        inside = [f for f in named if near == "" or f.startswith(near + "/")]
        named = inside or named
    return min(named, key=lambda f: (f.count("/"), f))


def command_text(value: Any) -> str:
    if isinstance(value, list):
        return shlex.join(str(v) for v in value)
    if isinstance(value, str):
        return value
    return ""
