"""Django wiring: ``MIDDLEWARE`` and ``INSTALLED_APPS`` in settings, the ``/metrics`` view in ``urls.py``.

Only literal lists and tuples are edited (``NAME = [...]``, annotated or not); settings built dynamically
(``+=``, django-environ, split settings) get the exact lines to add by hand instead of a guess. The
middleware goes after OpenTelemetry's when present, else after ``SecurityMiddleware``, else first.
"""

from __future__ import annotations

from typing import TypeVar

import libcst as cst

from parapet_cli.codemods import DEFAULT_STYLE, Style, Wiring, parse, quote_of, quoted, strings_in, with_imports

MIDDLEWARE = "parapet.metrics.django.ParapetMiddleware"
APP = "parapet.contrib.django"
_AFTER = ("opentelemetry", "django.middleware.security.SecurityMiddleware")


_AssignT = TypeVar("_AssignT", cst.Assign, cst.AnnAssign)


def _literal(stmt: cst.BaseSmallStatement, name: str) -> cst.List | cst.Tuple | None:
    value: cst.BaseExpression | None = None
    if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0].target
        value = stmt.value if isinstance(target, cst.Name) and target.value == name else None
    elif isinstance(stmt, cst.AnnAssign) and isinstance(stmt.target, cst.Name) and stmt.target.value == name:
        value = stmt.value
    return value if isinstance(value, cst.List | cst.Tuple) else None


def _string_value(element: cst.BaseElement) -> str:
    value = element.value
    if isinstance(value, cst.SimpleString):
        evaluated = value.evaluated_value
        return evaluated if isinstance(evaluated, str) else ""
    return ""


def _separator(seq: cst.List | cst.Tuple) -> cst.Comma:
    """The comma between two elements in the literal's own style: one per line, or ``", "``."""
    opening: cst.BaseParenthesizableWhitespace | None = None
    if isinstance(seq, cst.List):
        opening = seq.lbracket.whitespace_after
    elif seq.lpar:
        opening = seq.lpar[0].whitespace_after
    if isinstance(opening, cst.ParenthesizedWhitespace):  # "[" then a newline: one element per line
        return cst.Comma(whitespace_after=opening)
    for element in seq.elements:  # a list that starts on the bracket's line and wraps
        if isinstance(element.comma, cst.Comma) and "\n" in cst.Module([]).code_for_node(element.comma):
            return element.comma
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _closing(seq: cst.List | cst.Tuple) -> cst.ParenthesizedWhitespace | None:
    """The whitespace before ``]`` or ``)`` when it starts a new line (it holds the last element's comment)."""
    closing: cst.BaseParenthesizableWhitespace | None = None
    if isinstance(seq, cst.List):
        closing = seq.rbracket.whitespace_before
    elif seq.rpar:
        closing = seq.rpar[-1].whitespace_before
    return closing if isinstance(closing, cst.ParenthesizedWhitespace) else None


def _with_closing(seq: cst.List | cst.Tuple, closing: cst.ParenthesizedWhitespace) -> cst.List | cst.Tuple:
    if isinstance(seq, cst.List):
        return seq.with_changes(rbracket=seq.rbracket.with_changes(whitespace_before=closing))
    return seq.with_changes(rpar=[*seq.rpar[:-1], seq.rpar[-1].with_changes(whitespace_before=closing)])


def _insert_element(seq: cst.List | cst.Tuple, position: int, value: cst.BaseExpression) -> cst.List | cst.Tuple:
    """Insert an element in the literal's own layout: one per line when it is, else ``", "``; the
    trailing comma and the last element's comment stay where they were."""
    elements = list(seq.elements)
    new = cst.Element(value)
    separator = _separator(seq)
    if position < len(elements):
        new = new.with_changes(comma=separator)
    elif elements:  # appended: it takes over the trailing comma, if there was one
        last = elements[-1]
        if isinstance(last.comma, cst.Comma):
            new = new.with_changes(comma=last.comma)
        closing = _closing(seq)
        if (
            closing is not None
            and closing.first_line.comment is not None
            and isinstance(separator.whitespace_after, cst.ParenthesizedWhitespace)
        ):  # the last element's comment stays on its line
            separator = separator.with_changes(
                whitespace_after=separator.whitespace_after.with_changes(first_line=closing.first_line)
            )
            seq = _with_closing(seq, closing.with_changes(first_line=cst.TrailingWhitespace()))
        elements[-1] = last.with_changes(comma=separator)
    elif isinstance(seq, cst.Tuple):
        new = new.with_changes(comma=cst.Comma())  # ("x",)
    elements.insert(position, new)
    return seq.with_changes(elements=elements)


class _Settings(cst.CSTTransformer):
    def __init__(self, name: str, value: str, position: str) -> None:
        self.name = name
        self.value = value
        self.position = position  # "middleware" or "end"
        self.found = False
        self.present = False

    def _where(self, seq: cst.List | cst.Tuple) -> int:
        if self.position == "end":
            return len(seq.elements)
        values = [_string_value(e) for e in seq.elements]
        for marker in _AFTER:
            hits = [i for i, v in enumerate(values) if marker in v]
            if hits:
                return hits[-1] + 1
        return 0

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        return self._edit(updated)

    def leave_AnnAssign(self, original: cst.AnnAssign, updated: cst.AnnAssign) -> cst.AnnAssign:
        return self._edit(updated)

    def _edit(self, updated: _AssignT) -> _AssignT:
        """The first assignment of the setting, with the value inserted (unless it is there already)."""
        seq = _literal(updated, self.name)
        if seq is None or self.found:
            return updated
        self.found = True
        if self.value in strings_in(seq):
            self.present = True
            return updated
        return updated.with_changes(value=self._insert(seq))

    def _insert(self, seq: cst.List | cst.Tuple) -> cst.List | cst.Tuple:
        return _insert_element(seq, self._where(seq), cst.SimpleString(quoted(self.value, quote_of(seq))))


def _mentions(module: cst.Module, value: str) -> bool:
    return value in strings_in(module)


def _edit_setting(source: str, filename: str, name: str, value: str, position: str, what: str) -> Wiring:
    module = parse(source, filename)
    editor = _Settings(name, value, position)
    updated = module.visit(editor)
    if editor.present or (not editor.found and _mentions(module, value)):
        return Wiring(source, changed=False, already=True, what=what)
    if not editor.found:
        line = f'{name} = [*{name}, "{value}"]' if position == "end" else f'{name} = ["{value}", *{name}]'
        return Wiring(source, changed=False, already=False, manual=(line,), what=what)
    return Wiring(updated.code, changed=updated.code != source, already=False, what=what)


def wire_settings(source: str, filename: str) -> list[Wiring]:
    """The middleware, then the app (its migrations hold the evidence spine's tables)."""
    first = _edit_setting(source, filename, "MIDDLEWARE", MIDDLEWARE, "middleware", "Django MIDDLEWARE")
    second = _edit_setting(first.source, filename, "INSTALLED_APPS", APP, "end", "Django INSTALLED_APPS")
    return [first, second]


_URL_LINE = 'path("metrics", metrics_view)'


class _Urls(cst.CSTTransformer):
    def __init__(self) -> None:
        self.found = False

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        seq = _literal(updated, "urlpatterns")
        if seq is None or self.found or not isinstance(seq, cst.List):
            return updated
        self.found = True
        line = cst.parse_expression(f"path({quoted('metrics', quote_of(seq))}, metrics_view)")
        return updated.with_changes(value=_insert_element(seq, len(seq.elements), line))


def wire_urls(source: str, filename: str, style: Style = DEFAULT_STYLE) -> Wiring:
    """``path("metrics", metrics_view)`` at the end of a literal ``urlpatterns`` list."""
    what = "Django /metrics view"
    module = parse(source, filename)
    if "metrics_view" in module.code and any(
        isinstance(node, cst.Name) and node.value == "metrics_view" for node in _names(module)
    ):
        return Wiring(source, changed=False, already=True, what=what)
    editor = _Urls()
    updated = module.visit(editor)
    imports: list[tuple[str, str | None]] = [("django.urls", "path"), ("parapet.metrics.django", "metrics_view")]
    if not editor.found:
        manual = (
            "from django.urls import path",
            "from parapet.metrics.django import metrics_view",
            f"urlpatterns += [{_URL_LINE}]",
        )
        return Wiring(source, changed=False, already=False, manual=manual, what=what)
    new = with_imports(updated, imports, style).code
    return Wiring(new, changed=new != source, already=False, what=what)


def _names(module: cst.Module) -> list[cst.Name]:
    found: list[cst.Name] = []

    class Finder(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            for arg in node.args:
                if isinstance(arg.value, cst.Name):
                    found.append(arg.value)

    module.visit(Finder())
    return found
