"""Read a YAML file keeping where every key and value stands, so errors can name ``file:line:col``.

PyYAML's composer already knows the position of every node; this module walks the node tree once to
build the plain Python data and a map from field path to position. It also refuses duplicate keys,
which YAML loaders otherwise resolve silently by keeping the last one.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from parapet.errors import Location, SpecError
from parapet.spec.preview import preview

PathKey = tuple[str | int, ...]


@dataclass
class SourceDocument:
    """One YAML document: its data, and where each field path begins in the file."""

    path: Path
    data: Any
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def locate(self, loc: PathKey, *, key: bool = False) -> Location:
        """The location of ``loc``, or of its nearest enclosing field that exists in the file."""
        probe = tuple(loc)
        while True:
            table = self.keys if key and probe in self.keys else self.values
            if probe in table:
                line, col = table[probe]
                return Location(self.path, line, col, format_path(loc))
            if not probe:
                return Location(self.path, 1, 1, format_path(loc))
            probe = probe[:-1]
            key = False

    def error(self, loc: PathKey, message: str, hint: str | None = None, *, key: bool = False) -> SpecError:
        return SpecError(message, location=self.locate(loc, key=key), hint=hint)


def format_path(loc: PathKey) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_documents(path: Path, text: str | None = None) -> list[SourceDocument]:
    """Every YAML document in ``path``; a syntax error becomes a SpecError at its position."""
    if text is None:
        try:
            text = _decode(path, _read(path))
        except FileNotFoundError:
            raise SpecError(
                "spec file not found",
                location=Location(path),
                hint="create parapet.yaml (see docs/spec.md), or point the command at the spec you have",
            ) from None
        except IsADirectoryError:
            raise SpecError(
                "the spec is a directory", location=Location(path), hint="name the spec file itself"
            ) from None
        except PermissionError:
            raise SpecError(
                "cannot read the spec: permission denied", location=Location(path), hint="check the file's permissions"
            ) from None
        except OSError as exc:
            raise SpecError(
                f"cannot read the spec: {exc.strerror or exc}", location=Location(path), hint="check the file"
            ) from None
    _check_nesting(path, text)
    try:
        loader = yaml.SafeLoader(text)  # reads the whole text, refusing what YAML cannot hold
    except yaml.reader.ReaderError as exc:
        raise _unprintable(path, text, exc) from None
    docs: list[SourceDocument] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            doc = SourceDocument(path=path, data=None)
            doc.data = _build(loader, node, (), doc)
            docs.append(doc)
    except RecursionError:
        raise SpecError(
            "the YAML nests too deeply (or an alias contains itself)",
            location=Location(path, 1, 1),
            hint="flatten the structure; a spec needs only a few levels",
        ) from None
    except yaml.reader.ReaderError as exc:
        raise _unprintable(path, text, exc) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(
            f"YAML syntax error: {problem}",
            location=Location(path, line, col),
            hint="check indentation and quoting around this position",
        ) from None
    finally:
        loader.dispose()
    return docs


# A spec is a few kilobytes; a file this large is not one, and reading it would only cost memory.
MAX_SPEC_BYTES = 16 * 1024 * 1024


def _read(path: Path) -> bytes:
    """The file's bytes: only a regular file is opened (a FIFO would block), and only up to MAX_SPEC_BYTES."""
    info = path.stat()
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(path)
    if not stat.S_ISREG(info.st_mode):
        raise SpecError("the spec is not a regular file", location=Location(path), hint="name a YAML file")
    with path.open("rb") as handle:
        data = handle.read(MAX_SPEC_BYTES + 1)
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(
            f"the spec is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB",
            location=Location(path),
            hint="a spec is a few kilobytes of YAML: check that this is the right file",
        )
    return data


def _decode(path: Path, data: bytes) -> str:
    """The file's text; bytes that are not UTF-8 are an error at their line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        raise SpecError(
            f"the spec is not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded",
            location=Location(path, line, column),
            hint="save the file as UTF-8 (YAML specs are UTF-8 text)",
        ) from None


# Deeper flow nesting ([ and {) is refused before PyYAML reads it: its scanner takes time quadratic in
# the depth (30 s for 1,000 levels). A spec needs a dozen levels; a PromQL query in a plain scalar adds a few.
MAX_NESTING = 100
_NESTING_MARKS = re.compile(r"""[\[\]{}'"#\n]""")


def _check_nesting(path: Path, text: str) -> None:
    """Refuse flow collections nested deeper than MAX_NESTING, in one linear pass. Brackets inside quoted
    scalars and comments do not count; any other bracket does (counting one too many is harmless)."""
    depth = 0
    at = 0
    while True:
        found = _NESTING_MARKS.search(text, at)
        if found is None:
            return
        mark, at = found.group(), found.end()
        before = text[found.start() - 1] if found.start() else "\n"
        if mark in "[{":
            depth += 1
            if depth > MAX_NESTING:
                line = text.count("\n", 0, found.start()) + 1
                column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
                raise SpecError(
                    f"the YAML nests more than {MAX_NESTING} levels deep",
                    location=Location(path, line, column),
                    hint="flatten the structure; a spec needs only a few levels",
                )
        elif mark in "]}":
            depth = max(0, depth - 1)
        elif mark == "#" and before in " \t\n":
            end = text.find("\n", at)
            at = len(text) if end < 0 else end
        elif mark in "'\"" and before in " \t\n[{,":
            at = _quote_end(text, at, mark)


def _quote_end(text: str, at: int, quote: str) -> int:
    """Where a quoted scalar that opened before ``at`` ends ('' escapes ', backslash escapes ")."""
    while True:
        end = text.find(quote, at)
        if end < 0:
            return len(text)
        if quote == "'" and text.startswith("''", end):
            at = end + 2
            continue
        if quote == '"':
            slashes = len(text[at:end]) - len(text[at:end].rstrip("\\"))
            if slashes % 2:
                at = end + 1
                continue
        return end + 1


def _unprintable(path: Path, text: str, exc: yaml.reader.ReaderError) -> SpecError:
    """A character YAML forbids (NUL, other controls): the reader gives a position, not a mark."""
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    what = f" U+{exc.character:04X}" if isinstance(exc.character, int) else ""
    return SpecError(
        f"YAML cannot hold the character{what}",
        location=Location(path, line, column),
        hint="remove it (a spec is plain UTF-8 text)",
    )


def _pos(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _build(
    loader: yaml.SafeLoader, node: yaml.Node, loc: PathKey, doc: SourceDocument, memo: dict[int, Any] | None = None
) -> Any:
    memo = {} if memo is None else memo
    doc.values[loc] = _pos(node)
    if id(node) in memo:
        # an alias of a collection already built: share it (anchors cannot blow up the load)
        return memo[id(node)]
    if isinstance(node, yaml.MappingNode):
        explicit = [(k, v) for k, v in node.value if k.tag != "tag:yaml.org,2002:merge"]
        explicit_ids = {id(k) for k, _ in explicit}
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        memo[id(node)] = out
        seen: set[Any] = set()
        explicit_keys = set()
        for key_node, _ in explicit:
            explicit_keys.add(_key(loader, key_node, loc, doc))
        for key_node, value_node in node.value:
            key = _key(loader, key_node, loc, doc)
            if id(key_node) in explicit_ids:
                if key in seen:
                    raise SpecError(
                        f"duplicate key {preview(key)}",
                        location=Location(doc.path, *_pos(key_node), format_path((*loc, str(key)))),
                        hint="YAML keeps only the last of duplicate keys; remove one of them",
                    )
                seen.add(key)
            elif key in explicit_keys:
                continue  # a key written out wins over the one a merge (<<) brings
            child = (*loc, str(key))
            doc.keys[child] = _pos(key_node)
            out[key] = _build(loader, value_node, child, doc, memo)
            if isinstance(value_node, yaml.CollectionNode) and not value_node.flow_style:
                # a block mapping or list begins on the next line: name the line of its key
                doc.values[child] = doc.keys[child]
        return out
    if isinstance(node, yaml.SequenceNode):
        items: list[Any] = []
        memo[id(node)] = items
        items.extend(_build(loader, item, (*loc, i), doc, memo) for i, item in enumerate(node.value))
        return items
    return _scalar(loader, node, loc, doc)


def _scalar(loader: yaml.SafeLoader, node: yaml.Node, loc: PathKey, doc: SourceDocument) -> Any:
    """A scalar's value. YAML's readings can fail on values that look like numbers or dates but are not
    usable ones (an integer of 5,000 digits, 2024-13-45): such a value is an error at its position."""
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError) as exc:
        kind = node.tag.rsplit(":", 1)[-1]
        problem = "too many digits" if kind == "int" else preview(str(exc))
        raise SpecError(
            f"YAML cannot read this {kind} value: {problem}",
            location=Location(doc.path, *_pos(node), format_path(loc)),
            hint="quote the value to make it text, or write a smaller number / a real date",
        ) from None


def _key(loader: yaml.SafeLoader, key_node: yaml.Node, loc: PathKey, doc: SourceDocument) -> Any:
    key = _scalar(loader, key_node, loc, doc)
    if not isinstance(key, str | int | float | bool) or key is None:
        raise SpecError(
            "mapping keys must be plain scalars",
            location=Location(doc.path, *_pos(key_node), format_path(loc)),
            hint="write the key as a plain word, such as name or labels",
        )
    return key


def iter_paths(doc: SourceDocument) -> Iterator[PathKey]:
    yield from doc.values
