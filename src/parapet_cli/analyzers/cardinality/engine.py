"""Find the files that can define or use metrics, parse them (in several processes when it pays), run the rules.

    analyze(root, files, jobs, cache=…, config=…, progress=…) -> Analysis   facts of every candidate file, index
    run_rules(analysis, rules, config) -> [Finding]

libcst is slow next to ``ast``: position, scope and name metadata cost more than the parse. So the work is cut
in three places before libcst sees anything:

1. **The cache** (``cache.py``): a file whose stat, or else whose bytes, are what the last run recorded is not
   parsed again; with an unchanged stat it is not even read.
2. **The prefilter** (``prefilter_for(config)``): a file reaches libcst only if its bytes contain a word that
   defining or using a metric needs: ``prometheus_client``, ``.labels(``, ``.add_metric(``, ``…MetricFamily(``,
   an OpenTelemetry ``.create_counter(`` & co., or the name of a wrapper declared in the configuration. A file
   that uses a metric defined elsewhere calls ``.labels(`` on it, so it passes.
3. **Pruning** (``prune.py``): inside a candidate file, functions and classes that mention nothing metric-like
   become one-line stubs before libcst parses it.

What is left is parsed by ``jobs`` processes (default: every core): this one and ``jobs - 1`` workers, largest
file first, each process taking the next file when it is free. Workers are only started when there are at least
two files and ``POOL_MIN_BYTES`` of source to parse, since starting one (a fresh interpreter importing libcst)
costs about half a second; this process starts parsing at once, and a worker that has not claimed a file by the
time everything is done is stopped without being waited for. A file that cannot be read or parsed becomes a
PAR000 note; a worker that dies leaves its files to this process.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import queue
import re
import sys
import time
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parapet.errors import ConfigError
from parapet_cli.analyzers.cardinality.cache import FactsCache, digest
from parapet_cli.analyzers.cardinality.config import Config
from parapet_cli.analyzers.cardinality.model import FileFacts, Index
from parapet_cli.analyzers.cardinality.rule import Rule
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.readfile import NotRegularFile, TooLarge, read_regular

if TYPE_CHECKING:
    from parapet.spec.model import MetricWrapper

# Literal words one of which every candidate contains (a fast ``in`` test), then the pattern that confirms it.
PREFILTER_WORDS: tuple[bytes, ...] = (b"prometheus_client", b".labels", b".add_metric", b"MetricFamily", b".create_")
PREFILTER = re.compile(
    rb"prometheus_client|\.labels\s*\(|\.add_metric\s*\(|MetricFamily\s*\("
    rb"|\.create_(?:counter|up_down_counter|histogram|gauge)\s*\("
)
# Workers are started only for at least this much source to parse: below it, this process alone is done before a
# worker has imported libcst.
POOL_MIN_BYTES = 96 * 1024
NOTE_ID = "PAR000"

Progress = Callable[[str, int, int], None]  # (phase: "reading" or "parsing", done, total)


@dataclass(frozen=True)
class Options:
    """What the command line adds to a doctor run (``run_doctor(options=[Options(...)])``, read back with
    ``Context.option``): how many processes, which paths (none: the whole root), whether to use the cache, and
    where to report progress."""

    jobs: int | None = None  # None: every core
    paths: tuple[Path, ...] = ()
    cache: bool = False  # the command line turns it on; library calls and tests leave no files behind
    progress: Progress | None = None


@dataclass
class Stats:
    """What a run did, for ``--verbose`` people and the benchmark."""

    files: int = 0  # Python files looked at
    read: int = 0  # files whose bytes were read (the rest were known by their stat)
    candidates: int = 0  # files that passed the prefilter (cached or parsed)
    parsed: int = 0  # files parsed by libcst in this run
    parsed_bytes: int = 0
    workers: int = 0  # worker processes started
    cached: int = 0  # candidate files whose facts came from the cache


@dataclass
class Analysis:
    files: list[FileFacts]
    index: Index
    notes: list[Finding] = field(default_factory=list)
    notes_reported: bool = False
    stats: Stats = field(default_factory=Stats)


@dataclass(frozen=True)
class Prefilter:
    """The test a file's bytes pass to be parsed: one of ``words`` occurs and ``pattern`` matches."""

    words: tuple[bytes, ...]
    pattern: re.Pattern[bytes]

    def __call__(self, data: bytes) -> bool:
        return any(w in data for w in self.words) and self.pattern.search(data) is not None

    @property
    def key(self) -> str:
        text = repr((self.words, self.pattern.pattern))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def prefilter_for(config: Config) -> Prefilter:
    """prometheus_client's words, plus the name of every wrapper the configuration declares."""
    return _prefilter(config.prefilter_names, config.prefilter)


@cache
def _prefilter(names: tuple[str, ...], extra: re.Pattern[bytes] | None) -> Prefilter:
    words = list(PREFILTER_WORDS)
    for name in names:
        # the longest literal run of a wrapper's name (fnmatch wildcards allowed) must occur in the file
        literal = max(re.split(r"[*?\[\]]", name), key=len)
        if literal:
            words.append(literal.encode())
        else:
            words = [b""]  # a wrapper named only by wildcards: the pattern alone decides
            break
    pattern = PREFILTER if extra is None else re.compile(PREFILTER.pattern + b"|" + extra.pattern)
    return Prefilter(tuple(dict.fromkeys(words)), pattern)


def usable_cores() -> int:
    """The cores this process may run on (a container's cpuset, not the host's count), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def cache_key(config: Config) -> str:
    """What, besides the analyzer itself, decides a file's facts: the wrappers and the prefilter."""
    return f"{config.recognition_key}:{prefilter_for(config).key}"


def _too_large(limit: int) -> str:
    return (
        f"it is over the budget of {limit:,} bytes per file (max-file-bytes of [tool.parapet.cardinality]), "
        "so it was not parsed"
    )


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


# ------------------------------------------------------------------------------------------------- parsing

_Item = tuple[str, bytes]


def _work(item: _Item, wrappers: tuple[MetricWrapper, ...] = ()) -> FileFacts:
    from parapet_cli.analyzers.cardinality.recognize import analyze_source  # libcst: only when there is work

    return analyze_source(item[0], item[1], wrappers)


def _claim(counter: Synchronized[int]) -> int:
    with counter.get_lock():
        i = counter.value
        counter.value = i + 1
    return i


def _worker(items: list[_Item], wrappers: tuple[MetricWrapper, ...], counter: Synchronized[int], out: Any) -> None:
    """A worker process: parse the next unclaimed file until none is left, sending (index, facts) back."""
    while (i := _claim(counter)) < len(items):
        out.put((i, _work(items[i], wrappers)))


def _parse(
    items: list[_Item], jobs: int, wrappers: tuple[MetricWrapper, ...], progress: Progress | None, stats: Stats
) -> list[FileFacts]:
    """The facts of every item, parsed here and, when it pays, in ``jobs - 1`` worker processes too."""
    total = len(items)
    if progress is not None and total:
        progress("parsing", 0, total)
    items = sorted(items, key=lambda item: -len(item[1]))  # largest first: no long file left for last
    stats.parsed, stats.parsed_bytes = total, sum(len(data) for _, data in items)
    workers = min(jobs, total) - 1 if stats.parsed_bytes >= POOL_MIN_BYTES else 0
    results: dict[int, FileFacts] = {}
    if workers <= 0:
        for i, item in enumerate(items):
            results[i] = _work(item, wrappers)
            if progress is not None:
                progress("parsing", i + 1, total)
        return [results[i] for i in range(total)]
    ctx = multiprocessing.get_context("spawn")  # fork is unsafe with threads (the progress bar has one)
    counter: Synchronized[int] = ctx.Value("q", 0)
    out: Any = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(items, wrappers, counter, out), daemon=True) for _ in range(workers)]
    stats.workers = workers
    # multiprocessing runs the parent's main script again in every spawned child; for the `parapet` script that
    # imports the whole command line (SQLAlchemy, Typer, Rich: a third of a second). The workers need nothing of
    # it (their target and arguments live in this module and the model), so they start from a blank __main__.
    real_main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        for p in procs:
            p.start()
    finally:
        sys.modules["__main__"] = real_main

    def receive(wait: float = 0.0) -> bool:
        """Take one worker's result, waiting up to ``wait`` seconds for it; False if none came."""
        try:
            i, facts = out.get(timeout=wait) if wait else out.get_nowait()
        except queue.Empty:
            return False
        results[i] = facts
        return True

    try:
        while (i := _claim(counter)) < total:
            results[i] = _work(items[i], wrappers)
            while receive():
                pass
            if progress is not None:
                progress("parsing", len(results), total)
        # every file is claimed; wait for those the workers took, unless a worker died with its file
        while len(results) < total:
            if receive(0.05):
                if progress is not None:
                    progress("parsing", len(results), total)
            elif not any(p.is_alive() for p in procs) and not receive(0.2):
                break
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()  # still starting up (it claimed nothing), or this process is unwinding
        for p in procs:
            p.join()
        out.close()
    for i in range(total):
        if i not in results:  # its worker died: parse it here
            results[i] = _work(items[i], wrappers)
    return [results[i] for i in range(total)]


# ------------------------------------------------------------------------------------------------ analysis


def analyze(
    root: Path,
    files: Iterable[str],
    jobs: int | None = None,
    *,
    cache: bool = False,
    config: Config | None = None,
    progress: Progress | None = None,
) -> Analysis:
    """The facts of every file among ``files`` (relative to ``root``) that can define or use a metric."""
    config = config or Config()
    accepts = prefilter_for(config)
    store = FactsCache.load(root, cache_key(config)) if cache else None
    stats = Stats()
    notes: list[Finding] = []
    known: list[FileFacts] = []
    todo: list[_Item] = []
    recorded: dict[str, tuple[os.stat_result, str]] = {}
    files = list(files)
    stats.files = len(files)
    base = str(root)  # os.path and open() in this loop over every file: pathlib's objects cost more than the stat
    last_report = time.monotonic()
    for n, rel in enumerate(files):
        if progress is not None and time.monotonic() - last_report > 0.1:
            progress("reading", n, len(files))
            last_report = time.monotonic()
        full = os.path.join(base, rel)  # noqa: PTH118
        try:
            if store is not None:
                hit = store.by_stat(rel, os.stat(full))  # noqa: PTH116
                if hit is not None:
                    if hit.facts is not None:
                        known.append(hit.facts)
                    continue
            data, st = read_regular(full, config.max_file_bytes)  # a FIFO named *.py must not block the run
        except NotRegularFile:
            notes.append(_note(rel, "cannot read it: not a regular file"))
            continue
        except TooLarge:
            notes.append(_note(rel, _too_large(config.max_file_bytes)))
            continue
        except OSError as exc:
            notes.append(_note(rel, f"cannot read it: {exc.strerror or exc}"))
            continue
        stats.read += 1
        if store is not None:
            hexdigest = digest(data)
            hit = store.by_digest(rel, hexdigest, st)
            if hit is not None:
                if hit.facts is not None:
                    known.append(hit.facts)
                continue
            if not accepts(data):
                store.put(rel, st, hexdigest, None)
                continue
            recorded[rel] = (st, hexdigest)
        elif not accepts(data):
            continue
        todo.append((rel, data))
    workers = max(1, jobs if jobs is not None else usable_cores())
    parsed = _parse(todo, workers, config.wrappers, progress, stats)
    if store is not None:
        for new in parsed:
            st, hexdigest = recorded[new.path]
            store.put(new.path, st, hexdigest, new)
        store.save()
    stats.cached = len(known)
    stats.candidates = len(known) + len(parsed)
    facts = sorted([*known, *parsed], key=lambda f: f.path)
    for f in facts:
        if f.error is not None:
            notes.append(_note(f.path, f.error))
    return Analysis(facts, Index.build(facts), notes, stats=stats)


def run_rules(analysis: Analysis, rules: Iterable[Rule], config: Config) -> list[Finding]:
    out: list[Finding] = []
    for rule in rules:
        out.extend(rule.check_files(analysis.files, analysis.index, config))
    return out
