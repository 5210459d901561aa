"""The facts the recognizer extracts from one file, and the repository-wide index of metric definitions.

Facts are plain frozen dataclasses, so a worker process can parse a file and send them back pickled; the
rules run in the main process over facts and the index, never over syntax trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from parapet_cli.doctor.findings import Confidence


class Kind(StrEnum):
    """What a label value can be, from safest to worst."""

    BOUNDED = "bounded"  # a literal, a constant, an enum member, a class name, a status code, a guarded value
    UNKNOWN = "unknown"  # a parameter or attribute nothing is known about: not reported
    UNBOUNDED = "unbounded"  # ids, uuid4(), time, pids, random, hostnames, f-strings of runtime values
    REQUEST = "request"  # the raw path, URL, client address, headers, query or body of a request
    EXCEPTION = "exception"  # the text of an exception


@dataclass(frozen=True)
class Value:
    kind: Kind
    reason: str = ""  # what makes it so, in words: "uuid4()", "f-string with runtime part {user}"
    confidence: Confidence = Confidence.HIGH
    code: str = ""  # the expression as written


BOUNDED = Value(Kind.BOUNDED)
UNKNOWN = Value(Kind.UNKNOWN)


@dataclass(frozen=True)
class Site:
    """Where something is written: a 1-based line and column, and the line's text for fingerprints."""

    path: str
    line: int
    column: int
    text: str


@dataclass(frozen=True)
class Definition:
    """A metric constructed with prometheus_client (``Counter(...)``, ``GaugeMetricFamily(...)`` …)."""

    key: str  # where it is bound: ``app.metrics.REQUESTS``, ``app.metrics.Metrics.requests``; "" if unbound
    kind: str  # counter, gauge, histogram, summary, info, enum (``family`` is True for *MetricFamily)
    name: str | None  # the full name (namespace_subsystem_name) when it folds to a constant, else None
    labels: tuple[str, ...] | None  # None when the label names are not constant
    site: Site
    family: bool = False
    multiprocess_mode: str | None = None
    otel: bool = False  # an OpenTelemetry instrument: attributes are given at each add()/record(), not declared
    dynamic_name: Value | None = None  # the name, when it is built from unbounded runtime values
    buckets: int | None = None  # a histogram's buckets, +Inf included (the default when none are given); None: unknown


@dataclass(frozen=True)
class Use:
    """A call on a metric: ``.labels(...)``, ``.remove(...)``, ``.add_metric([...], value)``, or an OpenTelemetry
    instrument's ``.add(value, {...})`` / ``.record(value, attributes={...})`` (its attributes as keywords)."""

    method: str
    targets: tuple[str, ...]  # candidate definition keys for the receiver, best first
    attr: str  # the receiver's last name, for a unique-name fallback
    positional: tuple[Value, ...]
    keywords: tuple[tuple[str, Value], ...]
    star: bool  # *args or **kwargs: arity and names cannot be checked
    site: Site


@dataclass(frozen=True)
class FileFacts:
    path: str
    module: str
    definitions: tuple[Definition, ...] = ()
    uses: tuple[Use, ...] = ()
    framework: str | None = None  # fastapi, starlette, flask, django, aiohttp … when the file imports one
    error: str | None = None  # why the file could not be parsed
    multiprocess: bool = False  # the file uses prometheus_client's multiprocess mode (MultiProcessCollector …)


@dataclass
class Index:
    """Every definition of the repository by key, so a use in one file resolves to a definition in another."""

    by_key: dict[str, Definition] = field(default_factory=dict)
    by_attr: dict[str, list[Definition]] = field(default_factory=dict)
    uses: list[Use] = field(default_factory=list)
    multiprocess: bool = False  # some file of the repository uses prometheus_client's multiprocess mode
    _uses_of: dict[int, list[Use]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, files: list[FileFacts]) -> Index:
        index = cls()
        for facts in files:
            index.uses.extend(facts.uses)
            index.multiprocess = index.multiprocess or facts.multiprocess
            for d in facts.definitions:
                if not d.key:
                    continue
                index.by_key[d.key] = d
                index.by_attr.setdefault(d.key.rsplit(".", 1)[-1], []).append(d)
        return index

    def resolve(self, use: Use) -> tuple[Definition, Confidence] | None:
        """The definition a use calls: by exact key, by a unique key ending, or by a unique last name."""
        for key in use.targets:
            if key in self.by_key:
                return self.by_key[key], Confidence.HIGH
        for key in use.targets:
            tail = "." + key.lstrip(".")
            hits = [d for k, d in self.by_key.items() if k.endswith(tail)]
            if len(hits) == 1:
                return hits[0], Confidence.HIGH
        same = self.by_attr.get(use.attr, [])
        if len(same) == 1 and use.attr:
            return same[0], Confidence.MEDIUM
        return None

    def uses_of(self, definition: Definition) -> list[Use]:
        """Every use in the repository that resolves to ``definition``."""
        if self._uses_of is None:
            self._uses_of = {}
            for use in self.uses:
                resolved = self.resolve(use)
                if resolved is not None:
                    self._uses_of.setdefault(id(resolved[0]), []).append(use)
        return self._uses_of.get(id(definition), [])
