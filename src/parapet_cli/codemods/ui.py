"""Mounting Parapet's web app (webhook, health, operator UI) at ``/parapet`` in the host's ASGI app.

    FastAPI / Starlette   after the app assignment (and after Parapet's own lines that follow it):
                              app.mount("/parapet", create_app(spec_path="parapet.yaml"))  # parapet: managed
    Django under ASGI     after ``application = get_asgi_application()`` in asgi.py, Django keeps every
                          other path:
                              application = Starlette(
                                  routes=[Mount("/parapet", create_app(...)), Mount("/", application)]
                              )  # parapet: managed

Flask (WSGI) has no mount: its hosts run ``parapet serve``. A module that already mounts ``/parapet`` or
imports ``parapet.web`` is left alone; without an anchor nothing changes and the lines to add by hand are
returned. "Already there" means a mount of ``/parapet``, so a removed mount is drift for ``--check``.
"""

from __future__ import annotations

import libcst as cst

from parapet_cli.codemods import (
    DEFAULT_STYLE,
    MARKER,
    Style,
    Wiring,
    assigned_calls,
    calls_named,
    dotted,
    in_quote,
    parse,
    quote_of,
    with_imports,
)
from parapet_cli.codemods.apps import ASGI_FACTORIES, Insert

PREFIX = "/parapet"
WEB_MODULE = "parapet.web"
WHAT = "operator UI mount at /parapet"


def _already(module: cst.Module, source: str) -> bool:
    """A ``mount("/parapet", ...)`` or ``Mount("/parapet", ...)`` is there (however the host wrote it)."""
    for call in calls_named(module, {"mount", "Mount"}):
        first = call.args[0].value if call.args else None
        if isinstance(first, cst.SimpleString) and first.evaluated_value in (PREFIX, PREFIX + "/"):
            return True
    return False


def _binds(module: cst.Module, name: str) -> bool:
    """Whether the module binds ``name`` itself (a def, a class, an assignment or an import of another
    module's ``name``), anywhere: the host's own app factory is often called ``create_app``."""
    found = False

    class Finder(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            nonlocal found
            found = found or node.name.value == name

        def visit_ClassDef(self, node: cst.ClassDef) -> None:
            nonlocal found
            found = found or node.name.value == name

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            nonlocal found
            found = found or dotted(node.target) == name

        def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
            nonlocal found
            local = node.asname.name if node.asname is not None else node.name
            found = found or (isinstance(local, cst.Name) and local.value == name)

    module.visit(Finder())
    return found


def _factory(module: cst.Module) -> tuple[str, tuple[str, str | None]]:
    """How the module calls Parapet's factory, and the import that makes it: ``create_app``, or
    ``parapet.web.create_app`` when the module has a ``create_app`` of its own."""
    if _binds(module, "create_app"):
        return f"{WEB_MODULE}.create_app", (WEB_MODULE, None)
    return "create_app", (WEB_MODULE, "create_app")


def _create(factory: str, spec_path: str) -> str:
    return f'{factory}(spec_path="{spec_path}")'


def asgi_line(app: str, spec_path: str, factory: str = "create_app") -> str:
    return f'{app}.mount("{PREFIX}", {_create(factory, spec_path)})'


def wire_asgi_mount(source: str, filename: str, spec_path: str, style: Style = DEFAULT_STYLE) -> Wiring:
    """FastAPI / Starlette: ``app.mount("/parapet", create_app(...))`` after the app assignment."""
    module = parse(source, filename)
    if _already(module, source):
        return Wiring(source, changed=False, already=True, what=WHAT)
    factory, web_import = _factory(module)
    quote = quote_of(module)
    inserter = Insert(ASGI_FACTORIES, lambda app: [in_quote(asgi_line(app, spec_path, factory), quote)])
    updated = module.visit(inserter)
    imports: list[tuple[str, str | None]] = [web_import]
    if inserter.app is None:
        manual = (f"from {WEB_MODULE} import create_app", asgi_line("app", spec_path))
        return Wiring(source, changed=False, already=False, manual=manual, what=WHAT)
    new = with_imports(updated, imports, style).code
    return Wiring(new, changed=new != source, already=False, what=WHAT)


DJANGO_IMPORTS: list[tuple[str, str | None]] = [
    ("starlette.applications", "Starlette"),
    ("starlette.routing", "Mount"),
]


def django_lines(name: str, spec_path: str, factory: str = "create_app") -> list[str]:
    return [
        f"{name} = Starlette(\n"
        f'    routes=[Mount("{PREFIX}", {_create(factory, spec_path)}), Mount("/", {name})]\n'
        f"){'  ' + MARKER}"
    ]


def _django_statement(name: str, spec_path: str, factory: str, quote: str) -> cst.SimpleStatementLine:
    line = cst.parse_statement(in_quote(django_lines(name, spec_path, factory)[0], quote) + "\n")
    assert isinstance(line, cst.SimpleStatementLine)
    return line


def wire_django_asgi(source: str, filename: str, spec_path: str, style: Style = DEFAULT_STYLE) -> Wiring:
    """Django's asgi.py: ``/parapet`` to Parapet's app, every other path to Django's."""
    module = parse(source, filename)
    if _already(module, source):
        return Wiring(source, changed=False, already=True, what=WHAT)
    body = list(module.body)
    for i, stmt in enumerate(body):
        for name, call in assigned_calls(stmt):
            if dotted(call.func).rsplit(".", 1)[-1] == "get_asgi_application":
                factory, web_import = _factory(module)
                body.insert(i + 1, _django_statement(name, spec_path, factory, quote_of(module)))
                updated = with_imports(module.with_changes(body=body), [web_import, *DJANGO_IMPORTS], style)
                return Wiring(updated.code, changed=True, already=False, what=WHAT)
    manual = (
        *(f"from {mod} import {obj}" for mod, obj in [(WEB_MODULE, "create_app"), *DJANGO_IMPORTS]),
        *django_lines("application", spec_path),
    )
    return Wiring(source, changed=False, already=False, manual=manual, what=WHAT)
