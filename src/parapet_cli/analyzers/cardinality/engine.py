"""Find the files that can define or use metrics, parse them (in a process pool when it pays), run the rules.

    analyze(root, files, jobs) -> Analysis        facts of every candidate file and the repository index
    run_rules(analysis, rules, config) -> [Finding]

libcst is slow next to ``ast``, so a byte-level prefilter (``PREFILTER``) keeps every file that cannot define
or use a prometheus_client metric away from it. A file that cannot be read or parsed becomes a PAR000 note.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import tomllib
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from parapet.errors import ConfigError
from parapet_cli.analyzers.cardinality.cache import FactsCache
from parapet_cli.analyzers.cardinality.model import FileFacts, Index
from parapet_cli.analyzers.cardinality.recognize import analyze_source
from parapet_cli.analyzers.cardinality.rule import Config, Rule
from parapet_cli.doctor.findings import Finding, Severity

# A file reaches libcst only if it names prometheus_client or calls what only a metric (or OpenTelemetry meter) has.
PREFILTER = re.compile(
    rb"prometheus_client|\.labels\(|\.add_metric\(|MetricFamily\(|\.create_(?:counter|up_down_counter|histogram|gauge)\("
)
# Below this many candidate files a pool costs more (start-up, imports) than it saves.
POOL_THRESHOLD = 24
NOTE_ID = "PAR000"


@dataclass(frozen=True)
class Options:
    """What the command line adds to a doctor run: how many processes, and which paths (none: the whole root)."""

    jobs: int | None = None  # None: every core
    paths: tuple[Path, ...] = ()
    cache: bool = False  # the command line turns it on; library calls and tests leave no files behind


OPTIONS: ContextVar[Options] = ContextVar("parapet_cardinality_options", default=Options())  # noqa: B039


@dataclass
class Analysis:
    files: list[FileFacts]
    index: Index
    notes: list[Finding] = field(default_factory=list)
    notes_reported: bool = False


def load_config(root: Path) -> Config:
    """``[tool.parapet.cardinality]`` from ``root/pyproject.toml``: ``max-labels`` and ``allow-labels``."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", hint="fix the TOML, or remove the file") from exc
    return config_from(data, str(path))


def config_from(data: dict[str, object], where: str) -> Config:
    tool = data.get("tool")
    parapet = tool.get("parapet") if isinstance(tool, dict) else None
    section = parapet.get("cardinality") if isinstance(parapet, dict) else None
    if not isinstance(section, dict):
        return Config()
    max_labels = section.get("max-labels", Config.max_labels)
    allow = section.get("allow-labels", [])
    if not isinstance(max_labels, int) or isinstance(max_labels, bool) or max_labels < 1:
        raise ConfigError(
            f"{where}: [tool.parapet.cardinality] max-labels must be a positive integer, not {max_labels!r}",
            hint="write e.g. max-labels = 10",
        )
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise ConfigError(
            f"{where}: [tool.parapet.cardinality] allow-labels must be a list of label names",
            hint='write e.g. allow-labels = ["region_id"]',
        )
    return Config(max_labels=max_labels, allow_labels=tuple(allow))


def _note(path: str, message: str) -> Finding:
    return Finding(
        NOTE_ID,
        Severity.INFO,
        f"{path}: {message}; its metrics were not checked",
        "fix the file, or ignore the note in the spec (doctor: ignore: [{rule: PAR000, path: …}])",
        path=path,
        subject=message,
    )


def select_files(root: Path, files: Iterable[str], paths: Sequence[Path]) -> list[str]:
    """The Python files among ``files`` (relative to ``root``) that lie under one of ``paths`` (all if none)."""
    wanted: list[str] = []
    for p in paths:
        full = p if p.is_absolute() else Path.cwd() / p
        try:
            wanted.append(full.resolve().relative_to(root.resolve()).as_posix())
        except ValueError as exc:
            raise ConfigError(f"{p} is not inside {root}", hint="pass paths inside --root") from exc
    out = []
    for rel in files:
        if not rel.endswith(".py"):
            continue
        if wanted and not any(w in (".", rel) or rel.startswith(w.rstrip("/") + "/") for w in wanted):
            continue
        out.append(rel)
    return out


def _work(item: tuple[str, bytes]) -> FileFacts:
    return analyze_source(*item)


def analyze(root: Path, files: Iterable[str], jobs: int | None = None, *, cache: bool = False) -> Analysis:
    notes: list[Finding] = []
    items: list[tuple[str, bytes]] = []
    store = FactsCache.load(root) if cache else None
    cached: list[FileFacts] = []
    digests: dict[str, str] = {}
    for rel in files:
        try:
            data = (root / rel).read_bytes()
        except OSError as exc:
            notes.append(_note(rel, f"cannot read it: {exc.strerror or exc}"))
            continue
        if not PREFILTER.search(data):
            continue
        if store is not None:
            digests[rel] = store.digest(data)
            hit = store.get(rel, digests[rel])
            if hit is not None:
                cached.append(hit)
                continue
        items.append((rel, data))
    workers = max(1, jobs if jobs is not None else (os.cpu_count() or 1))
    if workers == 1 or len(items) < POOL_THRESHOLD:
        facts = [_work(item) for item in items]
    else:
        chunk = max(1, len(items) // (workers * 4))
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            facts = list(pool.map(_work, items, chunksize=chunk))
    if store is not None:
        for f in facts:
            store.put(f.path, digests[f.path], f)
        if store.new or store.old:  # a repository without metrics leaves no cache file behind
            store.save()
    facts = sorted([*cached, *facts], key=lambda f: f.path)
    for f in facts:
        if f.error is not None:
            notes.append(_note(f.path, f.error))
    return Analysis(facts, Index.build(facts), notes)


def run_rules(analysis: Analysis, rules: Iterable[Rule], config: Config) -> list[Finding]:
    out: list[Finding] = []
    for rule in rules:
        for facts in analysis.files:
            out.extend(rule.check(facts, analysis.index, config))
    return out
