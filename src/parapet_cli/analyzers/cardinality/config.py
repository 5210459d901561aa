"""The analyzer's configuration: ``[tool.parapet.cardinality]`` in pyproject.toml and ``doctor: cardinality:`` in the
spec, merged key by key (the spec wins, then pyproject.toml, then the default).

    load_config(root, spec) -> Config          both sources; ConfigError for a bad pyproject.toml
    config_from(data, where) -> Config          the pyproject.toml table alone (what the rule examples use)

pyproject.toml spells keys with dashes (``max-labels``), the spec with underscores (``max_labels``), as each
file's other keys do. The spec's section is validated with the rest of the spec (``parapet.spec.v1``), so a bad
key there is a SpecError at its line; here only pyproject.toml is checked, with the same strictness: an unknown
key is an error that suggests the key meant.

``wrappers`` declares the project's own factory functions, so that ``REQUESTS = counter("requests_total", …)``
is a metric definition like ``Counter(…)``. Recognition happens while parsing, so what the wrappers change is
also part of the facts: ``recognition_key`` belongs in the per-file cache key, and ``prefilter_names`` are the
words a file must contain to be worth parsing at all.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import cached_property
from pathlib import Path

from parapet.errors import ConfigError
from parapet.spec.model import ArgRef, CardinalitySettings, MetricWrapper, Spec
from parapet_cli.analyzers.cardinality.names import MAX_LABELS

__all__ = [
    "DEFAULT_BUCKETS",
    "HISTOGRAM_BUDGET",
    "LABEL_FANOUT",
    "MAX_FILE_BYTES",
    "WRAPPER_KINDS",
    "ArgRef",
    "Config",
    "MetricWrapper",
    "config_from",
    "load_config",
]

# A histogram's series per process (buckets incl. +Inf, plus _sum and _count, times every label combination)
# past which PAR409 reports it: the usual "keep one metric under ten thousand series" of hosted Prometheus.
HISTOGRAM_BUDGET = 10_000
# A file larger than this is not parsed (a PAR000 note names it): libcst holds about 750 bytes of memory per byte
# of source, so the default keeps one file under about 1.2 GB; generated modules are the usual offenders.
MAX_FILE_BYTES = 1_500_000
# The values a label is assumed to take when neither the configuration nor the code says how many.
LABEL_FANOUT = 10
# prometheus_client's Histogram.DEFAULT_BUCKETS: 14 bounds and +Inf.
DEFAULT_BUCKETS = 15
WRAPPER_KINDS = ("counter", "gauge", "histogram", "summary", "info", "enum")

_KEYS = {  # pyproject.toml key -> Config field
    "max-labels": "max_labels",
    "allow-labels": "allow_labels",
    "histogram-budget": "histogram_budget",
    "label-fanout": "label_fanout",
    "label-sizes": "label_sizes",
    "wrappers": "wrappers",
    "max-file-bytes": "max_file_bytes",
}
_WRAPPER_KEYS = ("call", "kind", "name", "labels", "buckets")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXAMPLE_WRAPPER = '{ call = "myapp.metrics.counter", kind = "counter", name = 0, labels = "labelnames" }'


@dataclass(frozen=True)
class Config:
    """What the rules and the recognizer are told about the project (every field has a documented default)."""

    max_labels: int = MAX_LABELS  # PAR401's ceiling
    allow_labels: tuple[str, ...] = ()  # label names (fnmatch patterns) that are bounded in this project
    histogram_budget: int = HISTOGRAM_BUDGET  # PAR409: series per histogram and process
    label_fanout: int = LABEL_FANOUT  # PAR409: values of a label whose values nothing tells
    label_sizes: tuple[tuple[str, int], ...] = ()  # PAR409: (label name or fnmatch pattern, number of values)
    wrappers: tuple[MetricWrapper, ...] = ()  # the project's own metric factories
    max_file_bytes: int = MAX_FILE_BYTES  # larger files are not parsed (a PAR000 note each)

    def allowed(self, label: str) -> bool:
        """Whether ``allow-labels`` declares ``label`` bounded."""
        return any(fnmatch.fnmatchcase(label, p) for p in self.allow_labels)

    def size_of(self, label: str) -> int | None:
        """The number of values ``label-sizes`` gives ``label`` (an exact name wins over a pattern), or None."""
        sizes = dict(self.label_sizes)
        if label in sizes:
            return sizes[label]
        for pattern, size in self.label_sizes:
            if fnmatch.fnmatchcase(label, pattern):
                return size
        return None

    @cached_property
    def prefilter_names(self) -> tuple[str, ...]:
        """The last dotted part of every wrapper's ``call`` (``counter`` of ``myapp.metrics.counter``): a file that
        contains none of these words (and nothing else metric-like) cannot call a wrapper."""
        return tuple(dict.fromkeys(w.call.rsplit(".", 1)[-1] for w in self.wrappers))

    @cached_property
    def prefilter(self) -> re.Pattern[bytes] | None:
        """``prefilter_names`` as one byte pattern of whole words (fnmatch wildcards allowed), or None."""
        parts = []
        for name in self.prefilter_names:
            if any(c in name for c in "*?["):
                parts.append(_glob_regex(name))
            else:
                parts.append(re.escape(name))
        if not parts:
            return None
        return re.compile(rb"\b(?:" + "|".join(parts).encode() + rb")\b")

    @cached_property
    def recognition_key(self) -> str:
        """A digest of what changes the facts a file gives (the wrappers), "" when nothing does: cache entries
        made with another key are stale."""
        if not self.wrappers:
            return ""
        text = repr(sorted((w.call, w.kind, w.name, w.labels, w.buckets) for w in self.wrappers))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _glob_regex(glob: str) -> str:
    out = ""
    for c in glob:
        out += r"\w*" if c == "*" else r"\w" if c == "?" else re.escape(c)
    return out


# ------------------------------------------------------------------------------------------------- loading


def load_config(root: Path, spec: Spec | None = None) -> Config:
    """The configuration of the repository at ``root``: ``[tool.parapet.cardinality]`` of its pyproject.toml,
    overridden key by key by ``doctor: cardinality:`` of the (loaded) spec."""
    path = root / "pyproject.toml"
    config = Config()
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}", hint="fix the TOML, or remove the file") from exc
        config = config_from(data, str(path))
    if spec is not None and spec.cardinality is not None:
        config = with_spec(config, spec.cardinality)
    return config


def with_spec(config: Config, settings: CardinalitySettings) -> Config:
    """``config`` with every key the spec sets replaced by the spec's value."""
    changes: dict[str, object] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if value is not None and f.name in {g.name for g in fields(Config)}:
            changes[f.name] = value
    return replace(config, **changes)  # type: ignore[arg-type]


def config_from(data: Mapping[str, object], where: str) -> Config:
    """``[tool.parapet.cardinality]`` of a parsed pyproject.toml; ``where`` names the file in errors."""
    tool = data.get("tool")
    parapet = tool.get("parapet") if isinstance(tool, dict) else None
    section = parapet.get("cardinality") if isinstance(parapet, dict) else None
    if section is None:
        return Config()
    table = "[tool.parapet.cardinality]"
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: {table} must be a table", hint="write [tool.parapet.cardinality] on its own line")
    for key in section:
        if key not in _KEYS:
            raise ConfigError(f"{where}: {table} has an unknown key {key!r}", hint=_did_you_mean(key, _KEYS))
    values: dict[str, object] = {}
    for key in ("max-labels", "histogram-budget", "label-fanout", "max-file-bytes"):
        if key in section:
            values[_KEYS[key]] = _positive(section[key], f"{where}: {table} {key}", f"{key} = 10")
    if "allow-labels" in section:
        allow = section["allow-labels"]
        if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
            raise ConfigError(
                f"{where}: {table} allow-labels must be a list of label names",
                hint='write e.g. allow-labels = ["region_id"]',
            )
        values["allow_labels"] = tuple(allow)
    if "label-sizes" in section:
        sizes = section["label-sizes"]
        if not isinstance(sizes, dict):
            raise ConfigError(
                f"{where}: {table} label-sizes must be a table of label name = number of values",
                hint="write e.g. label-sizes = { region = 8, tenant_tier = 3 }",
            )
        values["label_sizes"] = tuple(
            (str(k), _positive(v, f"{where}: {table} label-sizes.{k}", f"{k} = 8")) for k, v in sizes.items()
        )
    if "wrappers" in section:
        raw = section["wrappers"]
        if not isinstance(raw, list):
            raise ConfigError(
                f"{where}: {table} wrappers must be a list of tables", hint=f"write wrappers = [{_EXAMPLE_WRAPPER}]"
            )
        values["wrappers"] = tuple(_wrapper(w, f"{where}: {table} wrappers[{i}]") for i, w in enumerate(raw))
    return Config(**values)  # type: ignore[arg-type]


def _did_you_mean(key: str, allowed: Mapping[str, object] | tuple[str, ...]) -> str:
    names = sorted(allowed)
    close = difflib.get_close_matches(key, names, n=1)
    return (f"did you mean {close[0]!r}? " if close else "") + f"the keys are {', '.join(names)}"


def _positive(value: object, what: str, example: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, not {value!r}", hint=f"write e.g. {example}")
    return value


def _wrapper(raw: object, what: str) -> MetricWrapper:
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} must be a table", hint=f"write e.g. {_EXAMPLE_WRAPPER}")
    for key in raw:
        if key not in _WRAPPER_KEYS:
            raise ConfigError(f"{what} has an unknown key {key!r}", hint=_did_you_mean(str(key), _WRAPPER_KEYS))
    call, kind = raw.get("call"), raw.get("kind")
    if not isinstance(call, str) or not call.strip():
        raise ConfigError(
            f"{what} needs call: the factory's qualified name", hint='write e.g. call = "myapp.metrics.counter"'
        )
    if kind not in WRAPPER_KINDS:
        raise ConfigError(
            f"{what} kind must be one of {', '.join(WRAPPER_KINDS)}, not {kind!r}", hint='write e.g. kind = "counter"'
        )
    default = MetricWrapper(call=call.strip(), kind=str(kind))
    refs = {key: _arg_ref(raw[key], f"{what} {key}") for key in ("name", "labels", "buckets") if key in raw}
    return replace(
        default,
        name=refs.get("name", default.name),
        labels=refs.get("labels", default.labels),
        buckets=refs.get("buckets", default.buckets),
    )


def _arg_ref(value: object, what: str) -> ArgRef:
    """An argument given as a 0-based position, a keyword, or both as ``[position, "keyword"]``."""
    items = value if isinstance(value, list) else [value]
    position: int | None = None
    keyword: str | None = None
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and item >= 0 and position is None:
            position = item
        elif isinstance(item, str) and _IDENTIFIER.match(item) and keyword is None:
            keyword = item
        else:
            raise ConfigError(
                f'{what} must be a position (0, 1 …), a keyword ("labelnames") or both ([2, "labelnames"]), '
                f"not {value!r}",
                hint='write e.g. labels = [2, "labelnames"]',
            )
    if position is None and keyword is None:
        raise ConfigError(f"{what} is empty", hint='write e.g. labels = [2, "labelnames"]')
    return (position, keyword)
