"""Read a YAML file keeping where every key and value stands, so errors can name ``file:line:col``.

PyYAML's composer already knows the position of every node; this module walks the node tree once to
build the plain Python data and a map from field path to position. It also refuses duplicate keys,
which YAML loaders otherwise resolve silently by keeping the last one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from parapet.errors import Location, SpecError

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
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SpecError(
                "spec file not found",
                location=Location(path),
                hint="create parapet.yaml (see docs/spec.md), or point the command at the spec you have",
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(
                f"cannot read spec: {exc}", location=Location(path), hint="check the file's permissions"
            ) from None
    docs: list[SourceDocument] = []
    try:
        loader = yaml.SafeLoader(text)  # the reader checks every character here
    except yaml.reader.ReaderError as exc:  # a character YAML forbids (NUL, other controls): a position, no mark
        where = Location(path, text.count("\n", 0, exc.position) + 1, exc.position - text.rfind("\n", 0, exc.position))
        raise SpecError(
            f"YAML cannot hold the character U+{exc.character:04X}",
            location=where,
            hint="remove it (a spec is plain UTF-8 text)",
        ) from None
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
                        f"duplicate key {key!r}",
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
    return loader.construct_object(node, deep=True)


def _key(loader: yaml.SafeLoader, key_node: yaml.Node, loc: PathKey, doc: SourceDocument) -> Any:
    key = loader.construct_object(key_node, deep=True)
    if not isinstance(key, str | int | float | bool) or key is None:
        raise SpecError(
            "mapping keys must be plain scalars",
            location=Location(doc.path, *_pos(key_node), format_path(loc)),
            hint="write the key as a plain word, such as name or labels",
        )
    return key


def iter_paths(doc: SourceDocument) -> Iterator[PathKey]:
    yield from doc.values
