"""The per-file cache: a file that is unchanged since the last run is neither parsed nor, usually, even read.

    cache = FactsCache.load(root, key)        key: analyzer_key(config): analyzer, parapet, libcst, wrappers
    cache.by_stat(path, stat) / cache.by_digest(path, digest) -> Hit | None
    cache.put(path, stat, digest, facts)      facts None: the file does not pass the prefilter
    cache.save()                              writes only when something changed

One JSON file per repository in ``$PARAPET_CACHE_DIR`` (default ``$XDG_CACHE_HOME/parapet``, else
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
import json
import os
import tempfile
import time
import types
import typing
from dataclasses import dataclass, fields, is_dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NamedTuple

import parapet
from parapet_cli.analyzers.cardinality.model import FileFacts

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


def cache_dir() -> Path:
    explicit = os.environ.get("PARAPET_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "parapet"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


class Stat(NamedTuple):
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stat:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@dataclass(frozen=True)
class Hit:
    """A cache entry that still holds: the file's facts, or None when it does not pass the prefilter."""

    facts: FileFacts | None


class _Entry(NamedTuple):
    stat: Stat | None
    digest: str
    facts: dict[str, Any] | None


class FactsCache:
    def __init__(self, path: Path, key: str, entries: dict[str, _Entry], started_ns: int, root: Path) -> None:
        self.path = path
        self.root = root
        self.key = key
        self.old = entries
        self.new: dict[str, _Entry] = {}
        self.started_ns = started_ns
        self.changed = False
        self.hits = 0  # files whose facts came from the cache
        self.reads = 0  # files that had to be read (and hashed) because their stat changed

    @classmethod
    def load(cls, root: Path, key: str = "") -> FactsCache:
        started = time.time_ns()
        name = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
        path = cache_dir() / f"cardinality-{name}.json"
        full_key = f"{FORMAT}:{ANALYZER_DIGEST}:{key}"
        entries: dict[str, _Entry] = {}
        try:
            body = json.loads(path.read_bytes())
            if isinstance(body, dict) and body.get("key") == full_key:
                for rel, (stat, hexdigest, facts) in body["files"].items():
                    entries[rel] = _Entry(None if stat is None else Stat(*stat), str(hexdigest), facts)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            entries = {}
        return cls(path, full_key, entries, started, root)

    def _hit(self, rel: str, entry: _Entry, stat: Stat | None) -> Hit | None:
        facts = None
        if entry.facts is not None:
            try:
                facts = facts_from_json(entry.facts)
            except (KeyError, TypeError, ValueError):
                return None
            self.hits += 1
        kept = entry if stat is None else entry._replace(stat=self._trusted(stat))
        if kept != entry:
            self.changed = True
        self.new[rel] = kept
        return Hit(facts)

    def by_stat(self, rel: str, st: os.stat_result) -> Hit | None:
        """The entry of ``rel`` if the file's stat is the recorded one (nothing needs reading)."""
        entry = self.old.get(rel)
        if entry is None or entry.stat is None or entry.stat != Stat.of(st):
            return None
        return self._hit(rel, entry, None)

    def by_digest(self, rel: str, hexdigest: str, st: os.stat_result) -> Hit | None:
        """The entry of ``rel`` if its bytes are the recorded ones; the new stat is remembered."""
        self.reads += 1
        entry = self.old.get(rel)
        if entry is None or entry.digest != hexdigest:
            return None
        return self._hit(rel, entry, Stat.of(st))

    def put(self, rel: str, st: os.stat_result, hexdigest: str, facts: FileFacts | None) -> None:
        self.changed = True
        self.new[rel] = _Entry(self._trusted(Stat.of(st)), hexdigest, None if facts is None else facts_to_json(facts))

    def _trusted(self, stat: Stat) -> Stat | None:
        """``stat``, unless the file changed so recently that a later change might leave the same stat behind."""
        if max(stat.mtime_ns, stat.ctime_ns) >= self.started_ns - RACY_NS:
            return None
        return stat

    def save(self) -> None:
        """Write the entries of this run, and those of files it did not look at (``--path``) that still exist,
        if anything changed."""
        entries = dict(self.new)
        for rel, entry in self.old.items():
            if rel not in entries and os.path.isfile(os.path.join(self.root, rel)):  # noqa: PTH113, PTH118
                entries[rel] = entry
        if not self.changed and entries.keys() == self.old.keys():
            return
        if not entries and not self.path.exists():
            return  # nothing to remember: leave no file behind
        body = {
            "key": self.key,
            "files": {rel: [e.stat, e.digest, e.facts] for rel, e in sorted(entries.items())},
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".cardinality-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(body, out, separators=(",", ":"))
                Path(tmp).replace(self.path)
            except OSError:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            return
