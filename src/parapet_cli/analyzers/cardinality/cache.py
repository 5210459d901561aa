"""The per-file cache: a file whose bytes, path and analyzer are unchanged is not parsed again.

    FactsCache.load(root) -> cache;  cache.get(path, data);  cache.put(path, data, facts);  cache.save()

One JSON file per repository in ``$PARAPET_CACHE_DIR`` (default ``$XDG_CACHE_HOME/parapet``, else
``~/.cache/parapet``), never inside the repository. JSON rather than pickle, so a cache restored from a shared
CI store cannot run code. An entry is keyed by the file's path and the SHA-256 of its bytes; the whole cache is
dropped when the analyzer's own source changes (``ANALYZER_DIGEST``). Rules and their configuration run on the
cached facts every time, so changing ``[tool.parapet.cardinality]`` needs no invalidation. A cache that cannot
be read or written is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from parapet_cli.analyzers.cardinality.model import Definition, FileFacts, Kind, Site, Use, Value
from parapet_cli.doctor.findings import Confidence

_SOURCES = ("model.py", "names.py", "prune.py", "recognize.py", "cache.py")


def _analyzer_digest() -> str:
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in _SOURCES:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


ANALYZER_DIGEST = _analyzer_digest()


def cache_dir() -> Path:
    explicit = os.environ.get("PARAPET_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "parapet"


def _site(d: dict[str, Any]) -> Site:
    return Site(str(d["path"]), int(d["line"]), int(d["column"]), str(d["text"]))


def _value(d: dict[str, Any]) -> Value:
    return Value(Kind(d["kind"]), str(d["reason"]), Confidence(d["confidence"]), str(d["code"]))


def _site_json(s: Site) -> dict[str, Any]:
    return {"path": s.path, "line": s.line, "column": s.column, "text": s.text}


def _value_json(v: Value) -> dict[str, Any]:
    return {"kind": v.kind.value, "reason": v.reason, "confidence": v.confidence.value, "code": v.code}


def facts_to_json(f: FileFacts) -> dict[str, Any]:
    return {
        "path": f.path,
        "module": f.module,
        "framework": f.framework,
        "error": f.error,
        "definitions": [
            {
                "key": d.key,
                "kind": d.kind,
                "name": d.name,
                "labels": None if d.labels is None else list(d.labels),
                "site": _site_json(d.site),
                "family": d.family,
                "multiprocess_mode": d.multiprocess_mode,
                "otel": d.otel,
                "dynamic_name": None if d.dynamic_name is None else _value_json(d.dynamic_name),
            }
            for d in f.definitions
        ],
        "uses": [
            {
                "method": u.method,
                "targets": list(u.targets),
                "attr": u.attr,
                "positional": [_value_json(v) for v in u.positional],
                "keywords": [[k, _value_json(v)] for k, v in u.keywords],
                "star": u.star,
                "site": _site_json(u.site),
            }
            for u in f.uses
        ],
    }


def facts_from_json(d: dict[str, Any]) -> FileFacts:
    definitions = tuple(
        Definition(
            str(x["key"]),
            str(x["kind"]),
            x["name"],
            None if x["labels"] is None else tuple(x["labels"]),
            _site(x["site"]),
            bool(x["family"]),
            x["multiprocess_mode"],
            bool(x.get("otel", False)),
            None if x.get("dynamic_name") is None else _value(x["dynamic_name"]),
        )
        for x in d["definitions"]
    )
    uses = tuple(
        Use(
            str(x["method"]),
            tuple(x["targets"]),
            str(x["attr"]),
            tuple(_value(v) for v in x["positional"]),
            tuple((str(k), _value(v)) for k, v in x["keywords"]),
            bool(x["star"]),
            _site(x["site"]),
        )
        for x in d["uses"]
    )
    return FileFacts(str(d["path"]), str(d["module"]), definitions, uses, d["framework"], d["error"])


class FactsCache:
    def __init__(self, path: Path, entries: dict[str, tuple[str, dict[str, Any]]]) -> None:
        self.path = path
        self.old = entries
        self.new: dict[str, tuple[str, dict[str, Any]]] = {}
        self.hits = 0

    @classmethod
    def load(cls, root: Path) -> FactsCache:
        key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
        path = cache_dir() / f"cardinality-{key}.json"
        entries: dict[str, tuple[str, dict[str, Any]]] = {}
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(body, dict) and body.get("analyzer") == ANALYZER_DIGEST:
                entries = {p: (str(e["digest"]), e["facts"]) for p, e in body["files"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            entries = {}
        return cls(path, entries)

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def get(self, path: str, digest: str) -> FileFacts | None:
        entry = self.old.get(path)
        if entry is None or entry[0] != digest:
            return None
        try:
            facts = facts_from_json(entry[1])
        except (KeyError, TypeError, ValueError):
            return None
        self.new[path] = entry
        self.hits += 1
        return facts

    def put(self, path: str, digest: str, facts: FileFacts) -> None:
        self.new[path] = (digest, facts_to_json(facts))

    def save(self) -> None:
        body = {
            "analyzer": ANALYZER_DIGEST,
            "files": {p: {"digest": d, "facts": f} for p, (d, f) in sorted(self.new.items())},
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".cardinality-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(body, out, separators=(",", ":"))
            Path(tmp).replace(self.path)
        except OSError:
            return
