"""libcst codemods that wire Parapet into a host's code, each idempotent and safe.

Every codemod is a pure function ``source text -> Wiring``: it first looks for what it would add (a
``ParapetMiddleware`` call, ``instrument_flask``, the Django middleware string…) and returns the source
unchanged when it is there; otherwise it finds its anchor (the ``FastAPI()``/``Starlette()``/``Flask()``
assignment, a literal ``MIDDLEWARE``/``INSTALLED_APPS``/``urlpatterns`` list) and inserts the lines after
it, with the imports they need. Comments and formatting of the rest of the file are untouched (libcst
keeps them). No anchor means no change, and ``manual`` holds the lines to add by hand.

A file that does not parse raises ``ConfigError`` (exit 3) before anything is written.
"""

from __future__ import annotations

import ast
import re
import sys
import warnings
from dataclasses import dataclass
from typing import cast

import libcst as cst

from parapet.errors import ConfigError

MARKER = "# parapet: managed"


@dataclass(frozen=True)
class Wiring:
    """What a codemod did to one file: the new source, whether it changed, and lines to add by hand."""

    source: str
    changed: bool
    already: bool  # the wiring was found in place
    manual: tuple[str, ...] = ()
    what: str = ""


def parse(source: str, filename: str) -> cst.Module:
    """The module, or ``ConfigError`` naming ``file:line:col`` with Python's own wording of the error."""
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        line, column, message = exc.raw_line, exc.raw_column + 1, exc.message
    try:  # CPython words syntax errors better than libcst's parser ("unexpected indent", "'(' was never closed")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, filename, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        line, column, message = exc.lineno or line, exc.offset or column, exc.msg
    raise ConfigError(
        f"{filename}:{line}:{column}: cannot wire Parapet, the file does not parse: {message}",
        hint=f"fix the syntax error at {filename}:{line} and re-run parapet install; nothing was written",
    )


def _is_import(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(small, cst.Import | cst.ImportFrom) for small in stmt.body
    )


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    )


def _imported(module: cst.Module) -> set[tuple[str, str | None]]:
    """``(module, name)`` for each top-level ``from module import name``, ``(module, None)`` for ``import module``."""
    found: set[tuple[str, str | None]] = set()
    for stmt in module.body:
        if not _is_import(stmt):
            continue
        assert isinstance(stmt, cst.SimpleStatementLine)
        for small in stmt.body:
            if isinstance(small, cst.Import):
                found.update((dotted(alias.name), None) for alias in small.names if alias.asname is None)
            elif isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative:
                names = () if isinstance(small.names, cst.ImportStar) else small.names
                found.update((dotted(small.module), dotted(a.name)) for a in names if a.asname is None)
    return found


@dataclass(frozen=True)
class Style:
    """What a hand-written edit of one host file follows: the host's line length (its ruff or black
    setting, else 88) and the module names its import sorter counts as first-party."""

    first_party: frozenset[str] = frozenset()
    line_length: int = 88


DEFAULT_STYLE = Style()
_FUTURE, _STDLIB, _THIRD, _FIRST, _LOCAL = range(5)  # isort's and ruff's default section order


def _section(module: str, relative: bool, first_party: frozenset[str]) -> int:
    top = module.split(".")[0]
    if relative:
        return _LOCAL
    if top == "__future__":
        return _FUTURE
    if top in first_party:
        return _FIRST
    if top in sys.stdlib_module_names:
        return _STDLIB
    return _THIRD


def _natural(text: str) -> tuple[object, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text.lower()))


def _sort_key(stmt: cst.SimpleStatementLine) -> tuple[object, ...]:
    """Where isort/ruff's defaults put a statement inside its section: ``import x`` lines first, then
    ``from x import y``, each by module name (case-insensitive, natural order)."""
    small = stmt.body[0]
    if isinstance(small, cst.Import):
        return (0, _natural(dotted(small.names[0].name)))
    assert isinstance(small, cst.ImportFrom)
    module = "." * len(small.relative) + (dotted(small.module) if small.module is not None else "")
    return (1, _natural(module))


def _member_key(name: str) -> tuple[object, ...]:
    """ruff's order-by-type inside ``from x import a, B, C_D``: constants, classes, then the rest."""
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return (kind, _natural(name))


def _statement_module(stmt: cst.SimpleStatementLine) -> tuple[str, bool]:
    small = stmt.body[0]
    if isinstance(small, cst.Import):
        return dotted(small.names[0].name), False
    assert isinstance(small, cst.ImportFrom)
    return (dotted(small.module) if small.module is not None else ""), bool(small.relative)


def _host_sections(block: list[cst.SimpleStatementLine], first_party: frozenset[str]) -> dict[str, int]:
    """Packages the host's own sorter counts as first-party though Parapet cannot tell (its configuration's
    ``known-first-party``): the non-standard ones in a group (a run of imports without a blank line) that
    holds a first-party import."""
    groups: list[list[cst.SimpleStatementLine]] = []
    for i, stmt in enumerate(block):
        if i == 0 or any(line.comment is None for line in stmt.leading_lines):
            groups.append([])
        groups[-1].append(stmt)
    known: dict[str, int] = {}
    for group in groups:
        found = [_statement_module(stmt) for stmt in group]
        if any(_section(module, relative, first_party) == _FIRST for module, relative in found):
            for module, relative in found:
                if _section(module, relative, first_party) == _THIRD:
                    known[module.split(".")[0]] = _FIRST
    return known


def _merge_name(stmt: cst.SimpleStatementLine, name: str) -> cst.SimpleStatementLine:
    """``from m import a, c`` + ``b`` -> ``from m import a, b, c``, in the statement's own comma style."""
    small = stmt.body[0]
    assert isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar)
    names = list(small.names)
    keys = [_member_key(dotted(alias.name)) for alias in names]
    position = next((i for i, key in enumerate(keys) if key > _member_key(name)), len(names))
    new = cst.ImportAlias(name=cst.Name(name))
    separator = next(
        (a.comma for a in names if isinstance(a.comma, cst.Comma)),
        cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
    )
    if position < len(names):
        new = new.with_changes(comma=separator)
    else:
        last = names[-1]
        new = new.with_changes(comma=last.comma)
        names[-1] = last.with_changes(comma=separator)
    names.insert(position, new)
    return stmt.with_changes(body=[small.with_changes(names=names)])


def with_imports(module: cst.Module, imports: list[tuple[str, str | None]], style: Style = DEFAULT_STYLE) -> cst.Module:
    """Add the imports the module lacks where the host's import sorter (isort's and ruff's defaults)
    would put them: in the leading import block, in its section (future, standard library, third party,
    first party, local; a package the module already imports stays in that import's section), in sorted
    position; a name is added to an existing ``from m import ...`` of the same module. A section the
    block lacks starts with a blank line. No other line moves.

    libcst's ``AddImportsVisitor`` does part of this, but importing ``libcst.codemod`` costs a third of a
    second (it loads ``libcst.matchers``), which is a tenth of ``parapet install``'s budget.
    """
    present = _imported(module)
    wanted = [item for item in dict.fromkeys(imports) if item not in present]
    if not wanted:
        return module
    body = list(module.body)
    start = 1 if body and _is_docstring(body[0]) else 0
    end = start
    while end < len(body) and _is_import(body[end]):
        end += 1
    for mod, obj in wanted:
        block = [cast(cst.SimpleStatementLine, stmt) for stmt in body[start:end]]
        known = _host_sections(block, style.first_party)

        def section_of(module: str, relative: bool) -> int:
            return known.get(module.split(".")[0], _section(module, relative, style.first_party))  # noqa: B023

        section = section_of(mod, False)
        if obj is not None:
            same = next(
                (
                    i
                    for i, stmt in enumerate(block)
                    if len(stmt.body) == 1
                    and isinstance(stmt.body[0], cst.ImportFrom)
                    and not stmt.body[0].relative
                    and stmt.body[0].module is not None
                    and dotted(stmt.body[0].module) == mod
                    and not isinstance(stmt.body[0].names, cst.ImportStar)
                    and all(alias.asname is None for alias in stmt.body[0].names)
                ),
                None,
            )
            if same is not None:
                body[start + same] = _merge_name(block[same], obj)
                continue
        line = cst.parse_statement(f"from {mod} import {obj}\n" if obj else f"import {mod}\n")
        assert isinstance(line, cst.SimpleStatementLine)
        key = _sort_key(line)
        where = [section_of(*_statement_module(stmt)) for stmt in block]
        same_section = [i for i, s in enumerate(where) if s == section]
        if same_section:
            after = [i for i in same_section if _sort_key(block[i]) > key]
            if after:  # before the first statement that sorts after it; a section's header stays on top
                index = start + after[0]
                first = body[index]
                line = line.with_changes(leading_lines=first.leading_lines)
                body[index] = first.with_changes(leading_lines=[])
            else:
                index = start + same_section[-1] + 1
            body.insert(index, line)
        else:  # a new section, after the earlier ones, with a blank line around it
            earlier = [i for i, s in enumerate(where) if s < section]
            if earlier:
                body.insert(start + earlier[-1] + 1, line.with_changes(leading_lines=[cst.EmptyLine()]))
            elif block:
                first = body[start]
                line = line.with_changes(leading_lines=first.leading_lines)
                body[start] = first.with_changes(leading_lines=[cst.EmptyLine()])
                body.insert(start, line)
            else:  # no import block: after the docstring, then a blank line
                if start == 1:
                    line = line.with_changes(leading_lines=[cst.EmptyLine()])
                if start < len(body) and not body[start].leading_lines:
                    body[start] = body[start].with_changes(leading_lines=[cst.EmptyLine()])
                body.insert(start, line)
        end += 1
    return module.with_changes(body=body)


def assigned_calls(stmt: cst.BaseStatement) -> list[tuple[str, cst.Call]]:
    """The ``(NAME, call)`` pairs of a simple statement's ``NAME = call(...)`` / ``NAME: T = call(...)``."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return []
    out: list[tuple[str, cst.Call]] = []
    for small in stmt.body:
        value: cst.BaseExpression | None = None
        target: cst.BaseExpression | None = None
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            value, target = small.value, small.targets[0].target
        elif isinstance(small, cst.AnnAssign):
            value, target = small.value, small.target
        if isinstance(value, cst.Call) and isinstance(target, cst.Name):
            out.append((target.value, value))
    return out


def dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{dotted(node.value)}.{node.attr.value}"
    return ""


def calls_named(module: cst.Module, names: set[str]) -> list[cst.Call]:
    """Every call whose callee (last dotted component or full dotted name) is in ``names``."""
    found: list[cst.Call] = []

    class Finder(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            name = dotted(node.func)
            if name in names or name.rsplit(".", 1)[-1] in names:
                found.append(node)

    module.visit(Finder())
    return found


def strings_in(node: cst.CSTNode) -> set[str]:
    found: set[str] = set()

    class Finder(cst.CSTVisitor):
        def visit_SimpleString(self, node: cst.SimpleString) -> None:
            value = node.evaluated_value
            if isinstance(value, str):
                found.add(value)

    node.visit(Finder())
    return found


def quote_of(node: cst.CSTNode) -> str:
    """The quote the host writes strings with in ``node`` (single-line strings only; double by default)."""
    counts = {"'": 0, '"': 0}

    class Finder(cst.CSTVisitor):
        def visit_SimpleString(self, node: cst.SimpleString) -> None:
            quote = node.quote
            if quote in counts:
                counts[quote] += 1

    node.visit(Finder())
    return "'" if counts["'"] > counts['"'] else '"'


def quoted(value: str, quote: str) -> str:
    """``value`` as a string literal in the host's quote (the other one when the value holds it)."""
    if quote in value:
        quote = '"' if quote == "'" else "'"
    return f"{quote}{value}{quote}"


def in_quote(code: str, quote: str) -> str:
    """A line of Parapet's own code (plain string literals in double quotes, none holding a quote) written
    with the host's quote."""
    return code.replace('"', "'") if quote == "'" else code


def statement(code: str) -> cst.SimpleStatementLine:
    line = cst.parse_statement(code)
    assert isinstance(line, cst.SimpleStatementLine)
    return line.with_changes(
        trailing_whitespace=cst.TrailingWhitespace(
            whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(MARKER), newline=cst.Newline()
        )
    )
