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
import warnings
from dataclasses import dataclass

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


def with_imports(module: cst.Module, imports: list[tuple[str, str | None]]) -> cst.Module:
    """Add the imports the module lacks, one line each, after the last import of its leading import block
    (after the docstring when there is none). No other line moves.

    libcst's ``AddImportsVisitor`` does this too, but importing ``libcst.codemod`` costs a third of a
    second (it loads ``libcst.matchers``), which is a tenth of ``parapet install``'s budget.
    """
    present = _imported(module)
    wanted = [item for item in dict.fromkeys(imports) if item not in present]
    if not wanted:
        return module
    body = list(module.body)
    position = 1 if body and _is_docstring(body[0]) else 0
    for i in range(position, len(body)):
        if not _is_import(body[i]):
            break
        position = i + 1
    lines = [cst.parse_statement(f"from {mod} import {obj}\n" if obj else f"import {mod}\n") for mod, obj in wanted]
    after_docstring = position == 1 and _is_docstring(body[0])
    if after_docstring:  # no import block: a blank line after the docstring, then the new block
        lines[0] = lines[0].with_changes(leading_lines=[cst.EmptyLine()])
    return module.with_changes(body=[*body[:position], *lines, *body[position:]])


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


def statement(code: str) -> cst.SimpleStatementLine:
    line = cst.parse_statement(code)
    assert isinstance(line, cst.SimpleStatementLine)
    return line.with_changes(
        trailing_whitespace=cst.TrailingWhitespace(
            whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(MARKER), newline=cst.Newline()
        )
    )
