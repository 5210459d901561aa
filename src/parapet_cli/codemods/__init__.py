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

from dataclasses import dataclass

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

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
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise ConfigError(
            f"{filename}:{exc.raw_line}:{exc.raw_column}: cannot wire Parapet, the file does not parse: {exc.message}",
            hint="fix the syntax error and re-run parapet install; nothing was written",
        ) from None


def with_imports(module: cst.Module, imports: list[tuple[str, str | None]]) -> cst.Module:
    context = CodemodContext()
    for mod, obj in imports:
        AddImportsVisitor.add_needed_import(context, mod, obj)
    return AddImportsVisitor(context).transform_module(module)


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
