"""The per-file cache: a file that is unchanged since the last run is neither parsed nor, usually, even read.

    cache = FactsCache.load(root, key)        key: analyzer_key(config): analyzer, parapet, libcst, wrappers
    cache.by_stat(path, stat) / cache.by_digest(path, digest) -> Hit | None
    cache.put(path, stat, digest, facts)      facts None: the file does not pass the prefilter
    cache.save()                              writes only when something changed

The store is ``parapet_cli.statcache`` (shared with the doctor's module index). One JSON file per repository in
``$PARAPET_CACHE_DIR`` (default ``$XDG_CACHE_HOME/parapet``, else
``~/.cache/parapet``), never inside the repository. JSON rather than pickle, so a cache restored from a shared
CI store cannot run code. Every Python file the run looked at has an entry: its stat (size, mtime, ctime,
inode), the SHA-256 of its bytes, and its facts, or none when the prefilter turned it away.

A file whose stat is what the entry says is taken as it was, without reading it (git's index does the same).
The stat includes ctime, which no tool can set back, and a file changed within ``RACY_NS`` of the run that
recorded it keeps no stat (its next change could leave the same mtime and size behind), so it is hashed next
time. A file whose stat differs (a fresh clone, ``touch``) is read and hashed, and is still not parsed when its
digest is the entry's. The whole cache is dropped when its key changes: the analyzer's own source, parapet's
and libcst's versions, and the configuration that changes facts (``Config.recognition_key``, the prefilter).
Rules and the rest of their configuration run on the cached facts every time, so they need no invalidation.
A cache that cannot be read or written is ignored.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import types
import typing
from dataclasses import dataclass, fields, is_dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import parapet
from parapet_cli.analyzers.cardinality.model import FileFacts
from parapet_cli.statcache import Entry, StatCache
from parapet_cli.statcache import cache_dir as cache_dir
from parapet_cli.statcache import digest as digest

FORMAT = 2
# A file changed this close to (or after) the start of the run that saw it is hashed again next time.
RACY_NS = 2_000_000_000

_HERE = Path(__file__).resolve().parent
# parapet.metrics.labels decides which names are unbounded (through names.py), so it shapes the facts too.
_ALSO = (_HERE.parents[2] / "parapet" / "metrics" / "labels.py",)


def _analyzer_digest() -> str:
    h = hashlib.sha256()
    for path in [*sorted(_HERE.glob("*.py")), *_ALSO]:
        h.update(path.name.encode())
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"?")
    with contextlib.suppress(PackageNotFoundError):
        h.update(version("libcst").encode())
    h.update(parapet.__version__.encode())
    return h.hexdigest()[:16]


ANALYZER_DIGEST = _analyzer_digest()


# ------------------------------------------------------------------------------------------- facts <-> JSON
# Generic over the model's dataclasses (by their type hints), so a field added to the model is cached without
# touching this file; ANALYZER_DIGEST changes with model.py, so an old cache is never read with a new model.


def _encode(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _decode(tp: Any, data: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if data is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _decode(inner, data)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in data)
        if len(args) != len(data):
            raise ValueError(f"expected {len(args)} items, got {len(data)}")
        return tuple(_decode(a, v) for a, v in zip(args, data, strict=True))
    if isinstance(tp, type) and is_dataclass(tp):
        hints = _HINTS.get(tp)
        if hints is None:
            hints = _HINTS[tp] = typing.get_type_hints(tp)
        kwargs = {f.name: _decode(hints[f.name], data[f.name]) for f in fields(tp) if f.init and f.name in data}
        return tp(**kwargs)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    if tp in (str, int, bool) and isinstance(data, tp):
        return data
    raise ValueError(f"cannot read {data!r} as {tp!r}")


def facts_to_json(f: FileFacts) -> dict[str, Any]:
    out: dict[str, Any] = _encode(f)
    return out


def facts_from_json(d: dict[str, Any]) -> FileFacts:
    facts: FileFacts = _decode(FileFacts, d)
    return facts


# ------------------------------------------------------------------------------------------------ the cache
# The stat-then-digest store is parapet_cli.statcache's (the doctor's module index uses it too); this adds the facts.


@dataclass(frozen=True)
class Hit:
    """A cache entry that still holds: the file's facts, or None when it does not pass the prefilter."""

    facts: FileFacts | None


def _facts(value: Any) -> FileFacts | None:
    return None if value is None else facts_from_json(value)


class FactsCache:
    def __init__(self, store: StatCache) -> None:
        self.store = store

    @classmethod
    def load(cls, root: Path, key: str = "") -> FactsCache:
        return cls(StatCache.load("cardinality", root, f"{FORMAT}:{ANALYZER_DIGEST}:{key}", racy_ns=RACY_NS))

    @property
    def old(self) -> dict[str, Entry]:
        return self.store.old

    @property
    def hits(self) -> int:
        return self.store.hits

    @property
    def reads(self) -> int:
        return self.store.reads

    def by_stat(self, rel: str, st: os.stat_result) -> Hit | None:
        """The entry of ``rel`` if the file's stat is the recorded one (nothing needs reading)."""
        found = self.store.by_stat(rel, st, _facts)
        return None if found is None else Hit(found.value)

    def by_digest(self, rel: str, hexdigest: str, st: os.stat_result) -> Hit | None:
        """The entry of ``rel`` if its bytes are the recorded ones; the new stat is remembered."""
        found = self.store.by_digest(rel, hexdigest, st, _facts)
        return None if found is None else Hit(found.value)

    def put(self, rel: str, st: os.stat_result, hexdigest: str, facts: FileFacts | None) -> None:
        self.store.put(rel, st, hexdigest, None if facts is None else facts_to_json(facts))

    def save(self) -> None:
        self.store.save()
