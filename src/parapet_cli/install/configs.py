"""Merging Parapet's entries into the host's own ``prometheus.yml`` and ``alertmanager.yml``.

These files belong to the host, so Parapet merges into them and never regenerates them. Each entry it
needs is looked up by a key first, and an entry that is there, however the user has edited it since, is
left alone; a second run therefore changes no byte:

    prometheus.yml     rule_files    an entry that covers the generated rule file (a glob, or its path)
                       scrape job    a job named after the service, or any job already scraping its target
    alertmanager.yml   receiver      a receiver named ``parapet-<service>``
                       route         any route (at any depth) that sends to that receiver

How the edit is made. ruamel.yaml's round-trip mode keeps comments, key order and quoting, but its
dumper still re-indents: Debian's own sample prometheus.yml comes back with its sequences re-indented,
the spaces that align its comments dropped and trailing spaces trimmed. So the host's file is never
dumped. ruamel.yaml reads it (with the line and column of every key and item) and dumps only the new
fragments, indented like their siblings; the fragments are inserted as whole lines, and every byte of
the host's file is kept. The result is then parsed again and compared with the data intended: an edit
that would not come out exactly right (a flow-style list, a value on the key's line, an unusual layout)
is not made, and the lines to add by hand are reported instead, as the codemods do.

A file that does not parse raises ``ConfigError`` naming ``file:line:col`` (exit 3), before anything is
written.
"""

from __future__ import annotations

import io
import posixpath
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import SingleQuotedScalarString

from parapet.errors import ConfigError

COMMENT = "parapet install"


@dataclass(frozen=True)
class Edit:
    """What merging did to one host file: its new text, and what was added or must be added by hand."""

    source: str
    changed: bool
    added: tuple[str, ...] = ()
    manual: tuple[str, ...] = ()  # YAML lines to add by hand: the file's layout could not be edited safely
    what: str = ""


@dataclass(frozen=True)
class ScrapeJob:
    """The scrape job for the service: where Prometheus reaches its ``/metrics``."""

    name: str
    target: str
    guessed: bool = False  # nothing in the repository said where the service listens


@dataclass(frozen=True)
class Webhook:
    """Alertmanager's receiver for Parapet, and the route that sends the service's alerts to it."""

    receiver: str
    url: str
    service: str
    credentials_file: str
    guessed: bool = False


# --- reading -------------------------------------------------------------------------------------


def load(text: str, rel: str) -> Any:
    """Parse ``text`` (round-trip mode, with positions); a syntax error names ``rel:line:col``."""
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{rel}:{mark.line + 1}:{mark.column + 1}" if mark is not None else rel
        problem = str(exc.problem or exc.context or "invalid YAML").strip().splitlines()[0]
        raise ConfigError(
            f"{where}: cannot add Parapet's entries, the file does not parse: {problem}",
            hint="fix the YAML and re-run parapet install; nothing was written",
        ) from None
    except YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{rel}: cannot add Parapet's entries, the file does not parse: {first}",
            hint="fix the YAML and re-run parapet install; nothing was written",
        ) from None


def plain(node: Any) -> Any:
    """ruamel's round-trip containers and scalars as plain dicts, lists, strings and numbers."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def _top(data: Any, rel: str, what: str) -> CommentedMap:
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        raise ConfigError(
            f"{rel}:1: expected a mapping of settings at the top level, found a {type(data).__name__}",
            hint=f"is {rel} really {what}? fix it and re-run parapet install; nothing was written",
        )
    return data


def _expect_list(parent: CommentedMap, key: str, rel: str) -> CommentedSeq | None:
    value = parent.get(key)
    if value is None or isinstance(value, CommentedSeq):
        return value
    line = parent.lc.key(key)[0] + 1
    raise ConfigError(
        f"{rel}:{line}: {key} must be a list, found a {type(value).__name__}",
        hint="fix it and re-run parapet install; nothing was written",
    )


# --- writing: whole lines inserted at positions the parse gave --------------------------------------


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _quiet(line: str) -> bool:
    """A blank or comment-only line: it belongs to no node."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


class _Unsafe(Exception):
    """The file's layout does not allow a line-insert edit here: report the lines to add by hand."""


@dataclass
class _Text:
    lines: list[str]
    style: int = 2  # how far a block sequence's dash sits right of its parent key: 0 or 2
    newline: str = "\n"
    # (line index, order among blocks at that index, sequence number, lines)
    inserts: list[tuple[int, tuple[int, int], int, list[str]]] = field(default_factory=list)
    replaced: dict[int, str] = field(default_factory=dict)  # only ``key: []`` opened into a block list

    @classmethod
    def of(cls, text: str) -> _Text:
        lines = text.splitlines(keepends=True)
        newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += newline
        return cls(lines, newline=newline)

    def insert(self, at: int, block: list[str], order: tuple[int, int] = (0, 0)) -> None:
        """Insert ``block`` before line ``at``. Blocks at the same index go by ``order``: list items first
        (they end the list above), then new keys, the deeper ones first (they end the mapping above)."""
        self.inserts.append((at, order, len(self.inserts), block))

    def blocks(self) -> list[list[str]]:
        return [block for *_, block in sorted(self.inserts, key=lambda i: i[:3])]

    def render(self) -> str:
        lines = list(self.lines)
        for at, text in self.replaced.items():
            lines[at] = text
        for at, _, _, block in sorted(self.inserts, key=lambda i: i[:3], reverse=True):
            lines[at:at] = [line.replace("\n", self.newline) for line in block]
        return "".join(lines)

    def seq_end(self, seq: CommentedSeq) -> int:
        """The index after the last line of a block sequence's items."""
        dash, last = int(seq.lc.col), int(seq.lc.line)
        for i in range(last + 1, len(self.lines)):
            line = self.lines[i]
            if _quiet(line):
                continue
            col = _indent(line)
            if col > dash or (col == dash and re.match(r"-(\s|$)", line[dash:])):
                last = i
                continue
            break
        return last + 1

    def map_end(self, mapping: CommentedMap) -> int:
        """The index after the last line of a block mapping's entries."""
        col, last = int(mapping.lc.col), int(mapping.lc.line)
        for i in range(last + 1, len(self.lines)):
            line = self.lines[i]
            if _quiet(line):
                continue
            if _indent(line) < col or line.startswith(("---", "...")):
                break
            last = i
        return last + 1

    def seq_start(self, seq: CommentedSeq) -> int:
        """The index of the first item's line, above the comments that introduce it."""
        at = int(seq.lc.line)
        while at > 0 and self.lines[at - 1].strip().startswith("#") and _indent(self.lines[at - 1]) >= seq.lc.col:
            at -= 1
        return at

    def fragment(self, node: Any, col: int) -> list[str]:
        yaml = YAML(typ="rt")
        yaml.width = 4096
        yaml.indent(mapping=2, sequence=self.style + 2, offset=self.style)
        out = io.StringIO()
        yaml.dump(node, out)
        body = textwrap.dedent(out.getvalue())
        return [" " * col + line if line.strip() else line for line in body.splitlines(keepends=True)]

    # the three edits: an item at the end of a list, an item at its start, a new key holding a list

    def append_item(self, parent: CommentedMap, key: str, item: Any) -> None:
        self._add_item(parent, key, item, at_start=False)

    def prepend_item(self, parent: CommentedMap, key: str, item: Any) -> None:
        self._add_item(parent, key, item, at_start=True)

    def _add_item(self, parent: CommentedMap, key: str, item: Any, *, at_start: bool) -> None:
        seq = parent.get(key)
        if not seq:  # absent, empty, or [] (an empty list can only be flow style)
            self.null_key(parent, key, [item])
            return
        if seq.fa.flow_style():
            raise _Unsafe(f"{key} is a flow-style list")
        block = self.fragment(CommentedSeq([item]), seq.lc.col)
        if at_start:
            self.insert(self.seq_start(seq), [*block, "\n"] if self.spaced(seq) else block)
        else:
            self.insert(self.seq_end(seq), ["\n", *block] if self.spaced(seq) else block)

    def spaced(self, seq: CommentedSeq) -> bool:
        """Whether the list's items are set apart by blank lines (then a new item is too)."""
        return any(not self.lines[seq.lc.item(i)[0] - 1].strip() for i in range(1, len(seq)))

    def null_key(self, parent: CommentedMap, key: str, items: list[Any]) -> None:
        """``key`` is absent from ``parent``, or present with an empty value (nothing, or ``[]``, which
        becomes a block list): give it ``items``."""
        if key in parent:
            line, col = parent.lc.key(key)
            text = self.replaced.get(line, self.lines[line])
            head = rf"(\s*(?:-\s+)?[\"']?{re.escape(key)}[\"']?\s*:)"
            empty = re.fullmatch(head + r"\s*\[\s*\](\s*#.*)?(\r?\n)?", text)
            if empty:
                self.replaced[line] = empty.group(1) + (empty.group(2) or "") + (empty.group(3) or "")
            elif not re.fullmatch(head + r"\s*(#.*)?(\r?\n)?", text):
                raise _Unsafe(f"{key} has a value on its own line")
            self.insert(line + 1, self.fragment(CommentedSeq(items), col + self.style))
            return
        if len(parent) == 0:  # an empty document (or only comments): append at the end
            col, at = 0, len(self.lines)
        else:
            col, at = parent.lc.col, self.map_end(parent)
        block = self.fragment(CommentedMap([(key, CommentedSeq(items))]), col)
        if col == 0 and at > 0 and self.lines[at - 1].strip():
            block.insert(0, "\n")
        self.insert(at, block, (1, -col))


def _style(data: Any) -> int:
    """The dash offset most of the file's lists use (``key:\\n  - x`` is 2, ``key:\\n- x`` is 0); 2 on a tie."""
    votes = [0, 0]
    for parent, key, value in _walk(data):
        if isinstance(value, CommentedSeq) and not value.fa.flow_style() and len(value):
            key_line, key_col = parent.lc.key(key)
            if value.lc.line > key_line:
                votes[value.lc.col > key_col] += 1
    return 0 if votes[0] > votes[1] else 2


def _walk(node: Any) -> Iterator[tuple[CommentedMap, str, Any]]:
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            yield node, key, value
            yield from _walk(value)
    elif isinstance(node, CommentedSeq):
        for value in node:
            yield from _walk(value)


def _finish(text: str, doc: _Text, expected: Any, added: list[str], manual: list[str], what: str) -> Edit:
    if not doc.inserts:
        return Edit(text, False, (), tuple(manual), what)
    source = doc.render()
    try:
        ok = plain(YAML(typ="rt").load(source)) == expected
    except YAMLError:
        ok = False
    if not ok:  # the layout fooled the line edit: change nothing, say what to add
        lines = [line.rstrip("\n") for block in doc.blocks() for line in block if line.strip()]
        return Edit(text, False, (), tuple(manual + lines), what)
    return Edit(source, source != text, tuple(added), tuple(manual), what)


def _manual(node: Any, col: int = 0) -> list[str]:
    return [line.rstrip("\n") for line in _Text([]).fragment(node, col)]


# --- prometheus.yml --------------------------------------------------------------------------------


def covers(entry: Any, path: str) -> bool:
    """Whether a ``rule_files`` entry (a path or a glob, relative to prometheus.yml) loads ``path``."""
    if not isinstance(entry, str):
        return False
    return fnmatchcase(posixpath.normpath(path), posixpath.normpath(entry))


def scrape_job(job: ScrapeJob) -> CommentedMap:
    targets = CommentedSeq([SingleQuotedScalarString(job.target)])
    targets.fa.set_flow_style()
    static = CommentedMap([("targets", targets)])
    if job.guessed:
        static.yaml_add_eol_comment(f"{COMMENT}: a guess, adjust to where Prometheus reaches {job.name}", "targets")
    return CommentedMap(
        [("job_name", job.name), ("metrics_path", "/metrics"), ("static_configs", CommentedSeq([static]))]
    )


def _scrapes(existing: Any, job: ScrapeJob) -> bool:
    if not isinstance(existing, dict):
        return False
    if existing.get("job_name") == job.name:
        return True
    for static in existing.get("static_configs") or []:
        if isinstance(static, dict) and job.target in (static.get("targets") or []):
            return True
    return False


def _opened(text: str, rel: str, what: str) -> tuple[CommentedMap, Any, _Text]:
    """The file's top mapping, its plain copy (what the edited file must load as) and its text to edit in its style."""
    data = _top(load(text, rel), rel, what)
    doc = _Text.of(text)
    doc.style = _style(data)
    return data, plain(data) or {}, doc


def edit_prometheus(text: str, rel: str, *, rule_glob: str, rule_file: str, job: ScrapeJob) -> Edit:
    """Add ``rule_glob`` to ``rule_files`` unless an entry covers ``rule_file``, and the scrape job unless
    one of its name or target exists. Paths are relative to the prometheus.yml being edited."""
    data, expected, doc = _opened(text, rel, "a Prometheus configuration")
    added: list[str] = []
    manual: list[str] = []

    rule_files = _expect_list(data, "rule_files", rel)
    if not any(covers(entry, rule_file) for entry in rule_files or []):
        try:
            doc.append_item(data, "rule_files", rule_glob)
            expected["rule_files"] = [*(expected.get("rule_files") or []), rule_glob]
            added.append(f"rule_files: {rule_glob}")
        except _Unsafe:
            manual += ["rule_files:", *_manual(CommentedSeq([rule_glob]), 2)]

    scrape_configs = _expect_list(data, "scrape_configs", rel)
    if not any(_scrapes(existing, job) for existing in scrape_configs or []):
        item = scrape_job(job)
        try:
            doc.append_item(data, "scrape_configs", item)
            expected["scrape_configs"] = [*(expected.get("scrape_configs") or []), plain(item)]
            added.append(f"scrape job {job.name} ({job.target}{', a guess: adjust it' if job.guessed else ''})")
        except _Unsafe:
            manual += ["scrape_configs:", *_manual(CommentedSeq([item]), 2)]
    return _finish(text, doc, expected, added, manual, "Parapet's rule files and scrape job")


# --- alertmanager.yml ------------------------------------------------------------------------------


def receiver(hook: Webhook) -> CommentedMap:
    authorization = CommentedMap([("credentials_file", hook.credentials_file)])
    authorization.yaml_add_eol_comment(f"{COMMENT}: the webhook's bearer token; never inline", "credentials_file")
    config = CommentedMap(
        [
            ("url", hook.url),
            ("send_resolved", True),
            ("http_config", CommentedMap([("authorization", authorization)])),
        ]
    )
    if hook.guessed:
        config.yaml_add_eol_comment(f"{COMMENT}: a guess, adjust to where {hook.service} serves it", "url")
    return CommentedMap([("name", hook.receiver), ("webhook_configs", CommentedSeq([config]))])


def _matchers(hook: Webhook) -> CommentedSeq:
    matchers = CommentedSeq([SingleQuotedScalarString(f'service="{hook.service}"')])
    matchers.fa.set_flow_style()
    return matchers


def route(hook: Webhook) -> CommentedMap:
    node = CommentedMap([("receiver", hook.receiver), ("matchers", _matchers(hook)), ("continue", True)])
    node.yaml_add_eol_comment(f"{COMMENT}: the other routes still see these alerts", "continue")
    return node


def fallthrough(hook: Webhook, default: str) -> CommentedMap:
    """The last child route: the service's alerts that no other route takes still reach the root's receiver
    (in Alertmanager, once any child route matched, even one with ``continue``, the parent's receiver is
    skipped, so Parapet's route alone would take them away from it)."""
    node = CommentedMap([("receiver", default), ("matchers", _matchers(hook))])
    node.yaml_add_eol_comment(f"{COMMENT}: what no route above takes still goes to {default}", "receiver")
    return node


def _null_receiver(receivers: Any, name: Any) -> bool:
    """A receiver with no integration: an alert it no longer gets is not a delivery lost."""
    return any(isinstance(r, dict) and r.get("name") == name and set(r) == {"name"} for r in receivers or [])


def _routes_to(node: Any, name: str) -> bool:
    if not isinstance(node, dict):
        return False
    if node.get("receiver") == name:
        return True
    return any(_routes_to(child, name) for child in node.get("routes") or [])


def edit_alertmanager(text: str, rel: str, *, hook: Webhook) -> Edit:
    """Add the receiver for Parapet unless one of its name exists, and a first child route to it with
    ``continue: true`` (so the existing routes still see every alert) unless a route reaches it."""
    data, expected, doc = _opened(text, rel, "an Alertmanager configuration")
    added: list[str] = []
    manual: list[str] = []

    receivers = _expect_list(data, "receivers", rel)
    if not any(isinstance(r, dict) and r.get("name") == hook.receiver for r in receivers or []):
        item = receiver(hook)
        try:
            doc.append_item(data, "receivers", item)
            expected["receivers"] = [*(expected.get("receivers") or []), plain(item)]
            added.append(f"receiver {hook.receiver} ({hook.url})")
        except _Unsafe:
            manual += ["receivers:", *_manual(CommentedSeq([item]), 2)]

    root = data.get("route")
    if not _routes_to(root, hook.receiver):
        first = route(hook)
        default = root.get("receiver") if isinstance(root, dict) else None
        last = None if default is None or _null_receiver(receivers, default) else fallthrough(hook, str(default))
        try:
            if not isinstance(root, CommentedMap) or root.fa.flow_style():
                raise _Unsafe("no block-style route")
            routes = _expect_list(root, "routes", rel)
            if routes is None:
                doc.null_key(root, "routes", [first] if last is None else [first, last])
            else:
                doc.prepend_item(root, "routes", first)
                if last is not None:
                    doc.append_item(root, "routes", last)
            tail = [] if last is None else [plain(last)]
            expected["route"]["routes"] = [plain(first), *(expected["route"].get("routes") or []), *tail]
            added.append(f"route service={hook.service} -> {hook.receiver} (first, continue: true)")
            if last is not None:
                added.append(f"route service={hook.service} -> {default} (last, so the default still gets them)")
        except _Unsafe:
            manual += ["route:", "  routes:  # first, before the other routes", *_manual(CommentedSeq([first]), 4)]
            if last is not None:
                manual += ["  # and last, after the other routes", *_manual(CommentedSeq([last]), 4)]
    return _finish(text, doc, expected, added, manual, "Parapet's webhook receiver and route")
