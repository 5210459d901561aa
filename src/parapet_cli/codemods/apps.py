"""Wiring of an app object: FastAPI/Starlette (middleware and ``/metrics`` route) and Flask (``instrument_flask``).

The anchor is the first assignment ``NAME = FastAPI(...)`` / ``Starlette(...)`` / ``Flask(...)``, at module
level or inside an app factory; the lines go right after it, in the same block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import libcst as cst

from parapet_cli.codemods import (
    DEFAULT_STYLE,
    MARKER,
    Style,
    Wiring,
    assigned_calls,
    calls_named,
    in_quote,
    parse,
    quote_of,
    statement,
    with_imports,
)

ASGI_FACTORIES = {"FastAPI", "Starlette"}
FLASK_FACTORIES = {"Flask"}


def asgi_lines(app: str) -> list[str]:
    return [
        f"{app}.add_middleware(ParapetMiddleware)",
        f'{app}.add_route("/metrics", metrics_asgi_app(bearer_token=os.environ.get("METRICS_TOKEN") or None))',
    ]


ASGI_IMPORTS: list[tuple[str, str | None]] = [
    ("os", None),
    ("parapet.metrics", "metrics_asgi_app"),
    ("parapet.metrics.asgi", "ParapetMiddleware"),
]


def flask_lines(app: str) -> list[str]:
    return [f'instrument_flask({app}, bearer_token=os.environ.get("METRICS_TOKEN") or None)']


FLASK_IMPORTS: list[tuple[str, str | None]] = [("os", None), ("parapet.metrics.wsgi", "instrument_flask")]


def _manual(imports: list[tuple[str, str | None]], lines: list[str]) -> tuple[str, ...]:
    out = [f"from {mod} import {obj}" if obj else f"import {mod}" for mod, obj in imports]
    return (*out, *lines)


def _app_name(stmt: cst.BaseStatement, factories: set[str]) -> str | None:
    for target, call in assigned_calls(stmt):
        func = call.func
        name = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else ""
        if name in factories:
            return target
    return None


def _managed(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and stmt.trailing_whitespace.comment is not None
        and stmt.trailing_whitespace.comment.value == MARKER
    )


class Insert(cst.CSTTransformer):
    """Insert lines after the first app assignment found, in whatever block holds it (after the lines
    Parapet added there before, so a later codemod's lines follow an earlier one's)."""

    def __init__(self, factories: set[str], lines: Callable[[str], list[str]]) -> None:
        self.factories = factories
        self.lines = lines
        self.app: str | None = None

    def _insert(self, body: Sequence[cst.BaseStatement]) -> list[cst.BaseStatement] | None:
        if self.app is not None:
            return None
        for i, stmt in enumerate(body):
            name = _app_name(stmt, self.factories)
            if name is not None:
                self.app = name
                added: list[cst.BaseStatement] = [statement(line) for line in self.lines(name)]
                end = i + 1
                while end < len(body) and _managed(body[end]):
                    end += 1
                return [*body[:end], *added, *body[end:]]
        return None

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        body = self._insert(updated.body)
        return updated if body is None else updated.with_changes(body=body)

    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock) -> cst.IndentedBlock:
        body = self._insert(updated.body)
        return updated if body is None else updated.with_changes(body=body)


def _wire(
    source: str,
    filename: str,
    *,
    present: set[str],
    present_check: Callable[[cst.Call], bool],
    factories: set[str],
    lines: Callable[[str], list[str]],
    imports: list[tuple[str, str | None]],
    what: str,
    style: Style,
) -> Wiring:
    module = parse(source, filename)
    if any(present_check(call) for call in calls_named(module, present)):
        return Wiring(source, changed=False, already=True, what=what)
    quote = quote_of(module)
    inserter = Insert(factories, lambda app: [in_quote(line, quote) for line in lines(app)])
    updated = module.visit(inserter)
    if inserter.app is None:
        return Wiring(source, changed=False, already=False, manual=_manual(imports, lines("app")), what=what)
    new = with_imports(updated, imports, style).code
    return Wiring(new, changed=new != source, already=False, what=what)


def _adds_parapet_middleware(call: cst.Call) -> bool:
    return (
        bool(call.args) and isinstance(call.args[0].value, cst.Name) and call.args[0].value.value == "ParapetMiddleware"
    )


def wire_asgi(source: str, filename: str, style: Style = DEFAULT_STYLE) -> Wiring:
    """FastAPI/Starlette: ``app.add_middleware(ParapetMiddleware)`` and the ``/metrics`` route."""
    return _wire(
        source,
        filename,
        present={"add_middleware"},
        present_check=_adds_parapet_middleware,
        factories=ASGI_FACTORIES,
        lines=asgi_lines,
        imports=ASGI_IMPORTS,
        what="ASGI middleware and /metrics",
        style=style,
    )


def wire_flask(source: str, filename: str, style: Style = DEFAULT_STYLE) -> Wiring:
    """Flask: ``instrument_flask(app)`` (middleware, route templates and ``/metrics``)."""
    return _wire(
        source,
        filename,
        present={"instrument_flask"},
        present_check=lambda call: True,
        factories=FLASK_FACTORIES,
        lines=flask_lines,
        imports=FLASK_IMPORTS,
        what="Flask middleware and /metrics",
        style=style,
    )
