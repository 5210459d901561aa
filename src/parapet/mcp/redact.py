"""What the MCP server may show of the store: secrets masked, every size bounded.

An agent reads what the operator UI shows, through the same rules and a few more, because its output
lands in a model's context and, from there, anywhere:

    redact(value, secrets)    a JSON value with the value of every secret-looking key masked ("password",
                              "token", "authorization", ...), a URL's password masked, a bearer token, a
                              ``password=…`` / ``token: …`` in text or a known secret (the configured
                              tokens) masked wherever it appears;
                              strings cut at MAX_TEXT characters, mappings and lists at MAX_ITEMS entries,
                              nesting at MAX_DEPTH (what is cut says how much)
    text(value, secrets)      the same for one string (no key to judge by)

Nothing here reads the store: it takes plain values and returns plain values.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

MASK: Final = "[redacted]"
MAX_TEXT: Final = 2_000
MAX_ITEMS: Final = 100
MAX_DEPTH: Final = 10
MIN_SECRET: Final = 8  # a configured "secret" shorter than this would mask ordinary words

# Keys whose values are secrets whatever they hold (matched anywhere in the key, any case).
_SECRET_WORDS: Final = (
    r"pass(?:word|wd)?|secret|token|api[_-]?key|authori[sz]ation|cookie|credential|private[_-]?key|signature|session"
)
_SECRET_KEY = re.compile(_SECRET_WORDS, re.IGNORECASE)
# ``password=…``, ``token: …`` inside free text (a log line in an annotation, a deploy message)
_ASSIGNED = re.compile(rf"(?P<head>\b[\w-]*(?:{_SECRET_WORDS})[\w-]*\s*[=:]\s*)(?P<value>[^\s,;&\"']+)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)(?P<pw>[^\s@/]+)(?P<tail>@)")
# What every pattern above needs somewhere in the text: most strings have none of it and skip them all.
_SUSPECT = re.compile(r"[@=:]|bearer|basic|token", re.IGNORECASE)
_BEARER = re.compile(r"(?P<head>\b(?:bearer|basic|token)\s+)(?P<value>[A-Za-z0-9._~+/=\-]{8,})", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def text(value: str, secrets: Iterable[str] = ()) -> str:
    """One string with URL passwords, bearer/basic credentials and the known ``secrets`` masked, then cut."""
    return _text(value, _usable(secrets))


def _usable(secrets: Iterable[str]) -> tuple[str, ...]:
    return tuple(s for s in secrets if len(s) >= MIN_SECRET)


def _text(value: str, secrets: tuple[str, ...]) -> str:
    out = value
    if _SUSPECT.search(out):
        out = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", out)
        out = _BEARER.sub(lambda m: f"{m['head']}{MASK}", out)
        out = _ASSIGNED.sub(lambda m: m[0] if m["value"] == MASK else f"{m['head']}{MASK}", out)
    for secret in secrets:
        if secret in out:
            out = out.replace(secret, MASK)
    if len(out) > MAX_TEXT:
        out = f"{out[:MAX_TEXT]}… [{len(out) - MAX_TEXT} more characters cut]"
    return out


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A JSON-ready copy of ``value`` (datetimes as ISO 8601, Decimals as strings), redacted and bounded."""
    return _walk(value, _usable(secrets), 0)


def _walk(value: Any, secrets: tuple[str, ...], depth: int) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(value, secrets)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if depth >= MAX_DEPTH:
        return "[nested too deep: cut]"
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for i, (key, item) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["…"] = f"{len(value) - MAX_ITEMS} more entries cut"
                break
            name = _text(str(key), secrets)
            secret = is_secret_key(name) and item not in (None, "")
            out[name] = MASK if secret else _walk(item, secrets, depth + 1)
        return out
    if isinstance(value, list | tuple):
        items = [_walk(item, secrets, depth + 1) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"… {len(value) - MAX_ITEMS} more items cut")
        return items
    return _text(str(value), secrets)
