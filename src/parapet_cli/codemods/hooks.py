"""Wiring of objects the host creates once per process: SQLAlchemy engines, the Celery app, the procrastinate app.

The anchor is a module-level assignment ``NAME = factory(...)`` (annotated or not) whose factory resolves,
through the module's own imports, to one of the hook's qualified names: ``sqlalchemy.create_engine``
imported as ``create_engine``, ``sa.create_engine`` after ``import sqlalchemy as sa``, and so on. The
hook call goes on the line after each anchor::

    engine = create_engine(DATABASE_URL)
    instrument_engine(engine)  # parapet: managed

Only module level: an engine or a Celery app built inside a function may be built many times (a test
suite calling an app factory), and the Celery hook connects process-wide signals, so it must run once.
An anchor already followed anywhere in the module by ``hook(NAME)`` is left alone; a file that calls the
factory but has no module-level anchor gets no change and the lines to add by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from parapet_cli.codemods import (
    DEFAULT_STYLE,
    Style,
    Wiring,
    assigned_calls,
    calls_named,
    dotted,
    parse,
    statement,
    with_imports,
)


@dataclass(frozen=True)
class Hook:
    what: str
    factories: frozenset[str]  # qualified names of the calls that create the object
    function: str  # the runtime's hook, called with the object
    module: str  # where the hook lives
    example: str  # the anchor as a host would write it, for the lines to add by hand


ENGINE = Hook(
    what="SQLAlchemy engine instrumentation",
    factories=frozenset(
        {
            "sqlalchemy.create_engine",
            "sqlalchemy.engine.create_engine",
            "sqlalchemy.ext.asyncio.create_async_engine",
            "sqlmodel.create_engine",
        }
    ),
    function="instrument_engine",
    module="parapet.metrics.sqlalchemy",
    example="engine = create_engine(...)",
)
CELERY = Hook(
    what="Celery task metrics",
    factories=frozenset({"celery.Celery", "celery.app.Celery", "celery.app.base.Celery"}),
    function="instrument_celery",
    module="parapet.metrics.celery",
    example='app = Celery("...")',
)
PROCRASTINATE = Hook(
    what="procrastinate job metrics",
    factories=frozenset({"procrastinate.App"}),
    function="instrument_procrastinate",
    module="parapet.metrics.procrastinate",
    example="app = App(connector=...)",
)


def imported_names(module: cst.Module) -> dict[str, str]:
    """Local name -> qualified name, for the module's top-level absolute imports."""
    names: dict[str, str] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative:
                if isinstance(small.names, cst.ImportStar):
                    continue
                base = dotted(small.module)
                for alias in small.names:
                    local = alias.asname.name if alias.asname is not None else alias.name
                    names[dotted(local)] = f"{base}.{dotted(alias.name)}"
            elif isinstance(small, cst.Import):
                for alias in small.names:
                    full = dotted(alias.name)
                    if alias.asname is not None:
                        names[dotted(alias.asname.name)] = full
                    else:
                        head = full.split(".", 1)[0]
                        names[head] = head
    return names


def qualified(func: cst.BaseExpression, names: dict[str, str]) -> str:
    """The qualified name of a callee through the module's imports; empty when it was not imported."""
    head, _, rest = dotted(func).partition(".")
    base = names.get(head)
    if base is None:
        return ""
    return f"{base}.{rest}" if rest else base


def _anchor(stmt: cst.BaseStatement, hook: Hook, names: dict[str, str]) -> str | None:
    """The variable a module-level ``NAME = factory(...)`` assigns, if ``stmt`` is one."""
    for name, call in assigned_calls(stmt):
        if qualified(call.func, names) in hook.factories:
            return name
    return None


def _hooked(module: cst.Module, hook: Hook) -> set[str]:
    """Names already passed to the hook anywhere in the module."""
    return {
        call.args[0].value.value
        for call in calls_named(module, {hook.function})
        if call.args and isinstance(call.args[0].value, cst.Name)
    }


def manual_lines(hook: Hook) -> tuple[str, ...]:
    name = hook.example.split(" ", 1)[0]
    return (f"from {hook.module} import {hook.function}", f"{hook.function}({name})  # right after {hook.example}")


def wire_hook(source: str, filename: str, hook: Hook, style: Style = DEFAULT_STYLE) -> Wiring:
    """Add ``hook.function(NAME)`` after every module-level ``NAME = factory(...)`` not already hooked."""
    module = parse(source, filename)
    names = imported_names(module)
    done = _hooked(module, hook)
    body: list[cst.BaseStatement] = []
    anchors: list[str] = []
    added = False
    for stmt in module.body:
        body.append(stmt)
        name = _anchor(stmt, hook, names)
        if name is None:
            continue
        anchors.append(name)
        if name in done:
            continue
        body.append(statement(f"{hook.function}({name})"))
        done.add(name)
        added = True
    if not anchors:
        factories = {name.rsplit(".", 1)[-1] for name in hook.factories}
        called = any(qualified(call.func, names) in hook.factories for call in calls_named(module, factories))
        manual = manual_lines(hook) if called else ()  # no call at all: a mention in a comment or a string
        return Wiring(source, changed=False, already=False, manual=manual, what=hook.what)
    if not added:
        return Wiring(source, changed=False, already=True, what=hook.what)
    new = with_imports(module.with_changes(body=body), [(hook.module, hook.function)], style).code
    return Wiring(new, changed=new != source, already=False, what=hook.what)
