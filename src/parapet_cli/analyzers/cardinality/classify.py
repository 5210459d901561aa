"""The classification of a label value (``Kind``): bounded, unknown, unbounded, raw request input or exception
text, with the reason in words, from the expression as written and what the module says about its names.

    Classifier.classify(expr) -> Value

Literals, constants, comparisons, enum members, class names and status codes are bounded; calls and request
parts are looked up in ``knowledge.py``; a name follows one level of local assignment (through closures) and is
bounded when the function around it checks it with ``in ALLOWED``; otherwise its own name may say it is
unbounded (``user_id``). f-strings, ``%``, ``+`` and ``str.format()`` are as bad as their worst runtime part.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import libcst as cst
from libcst.metadata import Assignment, FunctionScope, GlobalScope

from parapet_cli.analyzers.cardinality.fold import fold_str
from parapet_cli.analyzers.cardinality.knowledge import (
    BOUNDED_ATTRS,
    BOUNDED_CALLS,
    BOUNDED_NAMES,
    EXCEPTION_ATTRS,
    EXCEPTION_CALLS,
    HOST_ENV,
    REQUEST_PARTS,
    REQUEST_ROOTS,
    ROUTE_WORDS,
    STRING_METHODS,
    UNBOUNDED_CALLS,
    UNBOUNDED_MODULES,
    worst,
)
from parapet_cli.analyzers.cardinality.model import BOUNDED, UNKNOWN, Kind, Value
from parapet_cli.analyzers.cardinality.names import unbounded_name
from parapet_cli.analyzers.cardinality.source import Source
from parapet_cli.doctor.findings import Confidence


class Classifier(Source):
    """What a label value is, asked of the parsed module (``Source``)."""

    def classify(self, expr: cst.BaseExpression, depth: int = 0) -> Value:
        return replace(self._classify(expr, depth), code=self.code(expr))

    def _classify(self, e: cst.BaseExpression, depth: int) -> Value:
        if isinstance(e, cst.SimpleString | cst.Integer | cst.Float | cst.ConcatenatedString | cst.Ellipsis):
            return BOUNDED
        if isinstance(e, cst.Comparison | cst.UnaryOperation | cst.BooleanOperation):
            return BOUNDED
        if isinstance(e, cst.FormattedString):
            parts = [p.expression for p in e.parts if isinstance(p, cst.FormattedStringExpression)]
            return self._interpolated(parts, depth, "f-string")
        if isinstance(e, cst.BinaryOperation):
            if isinstance(e.operator, cst.Modulo) and isinstance(e.left, cst.SimpleString):
                right = e.right.elements if isinstance(e.right, cst.Tuple) else None
                parts = [el.value for el in right] if right is not None else [e.right]
                return self._interpolated(parts, depth, "%-formatted string")
            if isinstance(e.operator, cst.Add) and (
                isinstance(e.left, cst.SimpleString) or isinstance(e.right, cst.SimpleString)
            ):
                return self._interpolated([e.left, e.right], depth, "string concatenation")
            return worst([self.classify(e.left, depth), self.classify(e.right, depth)])
        if isinstance(e, cst.IfExp):
            if isinstance(e.test, cst.Comparison) and any(
                isinstance(t.operator, cst.In | cst.NotIn) for t in e.test.comparisons
            ):
                return BOUNDED
            return worst([self.classify(e.body, depth), self.classify(e.orelse, depth)])
        if isinstance(e, cst.Await):
            return self.classify(e.expression, depth)
        if isinstance(e, cst.Call):
            return self._call(e, depth)
        if isinstance(e, cst.Name):
            return self._name(e, depth)
        if isinstance(e, cst.Attribute | cst.Subscript):
            return self._chain(e, depth)
        return UNKNOWN

    def _interpolated(self, parts: Sequence[cst.BaseExpression], depth: int, what: str) -> Value:
        values = [self.classify(p, depth) for p in parts]
        bad = worst(values)
        if bad.kind is Kind.BOUNDED:
            return BOUNDED
        if bad.kind is Kind.UNKNOWN:
            return Value(Kind.UNBOUNDED, f"{what} with the runtime part {{{bad.code}}}", Confidence.MEDIUM)
        return Value(bad.kind, f"{what} of {bad.reason}", bad.confidence)

    def _call(self, e: cst.Call, depth: int) -> Value:
        names = self.qualified(e.func)
        for name in names:
            if name in UNBOUNDED_CALLS:
                return Value(Kind.UNBOUNDED, f"{name}() is {UNBOUNDED_CALLS[name]}")
            if name.split(".")[0] in UNBOUNDED_MODULES:
                return Value(Kind.UNBOUNDED, f"{name}() is {UNBOUNDED_MODULES[name.split('.')[0]]}")
            if name in EXCEPTION_CALLS:
                return Value(Kind.EXCEPTION, f"{name}() is the text of an exception")
            if name in ("os.getenv", "os.environ.get") and e.args:
                key = fold_str(e.args[0].value, self.constants)
                if key in HOST_ENV:
                    return Value(Kind.UNBOUNDED, f"${key} is the hostname or pod, new for every pod")
            if name in BOUNDED_CALLS:
                return BOUNDED
            if name in ("str", "repr", "format", "ascii"):
                if not e.args:
                    return BOUNDED
                inner = self.classify(e.args[0].value, depth)
                if inner.kind is Kind.UNKNOWN:
                    return Value(Kind.UNBOUNDED, f"{name}() of the runtime value {inner.code}", Confidence.LOW)
                return inner
        func = e.func
        if isinstance(func, cst.Attribute):
            if func.attr.value == "format" and isinstance(func.value, cst.SimpleString):
                return self._interpolated([a.value for a in e.args], depth, "str.format()")
            if func.attr.value in STRING_METHODS:
                return self.classify(func.value, depth)
            is_get = func.attr.value == "get" and isinstance(func.value, cst.Name)
            if is_get and isinstance(func.value, cst.Name) and self.constants.get(func.value.value) == "<collection>":
                return BOUNDED
        return self._chain(e, depth)

    def _name(self, e: cst.Name, depth: int) -> Value:
        if e.value in ("True", "False", "None"):
            return BOUNDED
        assignments = self._assignments(e)
        if self._is_exception(assignments):
            return Value(Kind.EXCEPTION, f"{e.value} is an exception, and its text varies with every failure")
        if self._guarded(e):
            return BOUNDED
        values: list[Value] = []
        for a in assignments:
            values.append(self._assigned(a, depth))
        if values:
            found = worst(values)
            if found.kind is not Kind.UNKNOWN:
                return found
        return self._by_name(e.value)

    def _is_exception(self, assignments: Iterable[Assignment]) -> bool:
        for a in assignments:
            parent = self.parent(a.node)
            if isinstance(parent, cst.AsName) and isinstance(self.parent(parent), cst.ExceptHandler):
                return True
        return False

    def _assigned(self, a: Assignment, depth: int) -> Value:
        node = a.node
        if isinstance(node, cst.Import | cst.ImportFrom):
            return UNKNOWN
        if isinstance(a.scope, GlobalScope) and a.name.isupper():
            return BOUNDED
        parent = self.parent(node)
        if isinstance(parent, cst.For):
            it = parent.iter
            if isinstance(it, cst.List | cst.Tuple | cst.Set) or (
                isinstance(it, cst.Name) and it.value in self.constants
            ):
                return BOUNDED
            return UNKNOWN
        if isinstance(parent, cst.AssignTarget):
            parent = self.parent(parent)
        if isinstance(parent, cst.Assign | cst.AnnAssign) and parent.value is not None and depth < 2:
            return self.classify(parent.value, depth + 1)
        return UNKNOWN

    def _guarded(self, e: cst.Name) -> bool:
        """``x in ALLOWED`` (or ``not in``) anywhere in the function around ``e``, or a function enclosing it
        (closures), or at module level, bounds ``x``."""
        scope = self.scope_of(e)
        while scope is not None and self._tree is not None:
            if isinstance(scope, FunctionScope | GlobalScope):
                node: cst.CSTNode = scope.node if isinstance(scope, FunctionScope) else self._tree
                if e.value in self._guards.get(node, ()):
                    return True
            if isinstance(scope, GlobalScope):
                break
            scope = scope.parent
        return False

    @staticmethod
    def _by_name(name: str) -> Value:
        if name.isupper() or name in BOUNDED_NAMES:
            return BOUNDED
        reason = unbounded_name(name)
        if reason is not None:
            return Value(Kind.UNBOUNDED, f"{name} {reason[0]}", Confidence.MEDIUM)
        return UNKNOWN

    def _chain(self, e: cst.BaseExpression, depth: int) -> Value:
        """Attribute, subscript and method chains: a request's parts, an exception's text, enum members, ids."""
        segments: list[str] = []
        node = e
        while True:
            if isinstance(node, cst.Attribute):
                segments.append(node.attr.value)
                node = node.value
            elif isinstance(node, cst.Subscript):
                key = None
                if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
                    key = fold_str(node.slice[0].slice.value, self.constants)
                segments.append(f"[{key}]" if key is not None else "[]")
                node = node.value
            elif isinstance(node, cst.Call):
                segments.append("()")
                node = node.func
            else:
                break
        segments.reverse()
        if not isinstance(node, cst.Name):
            return UNKNOWN
        root = node.value
        named = [s for s in segments if s not in ("()", "[]")]
        if any(s in ("__name__", "__qualname__", "__module__") for s in named):  # a class's or module's name
            return BOUNDED
        if root in ("self", "flask") and named[:1] == ["request"]:
            root, segments = "request", segments[1:]
        if root in ROUTE_WORDS or any(s in ROUTE_WORDS for s in segments):
            return BOUNDED
        if root in REQUEST_ROOTS and segments:
            first = segments[0]
            if first in REQUEST_PARTS or (root == "environ" and first.startswith("[HTTP_")):
                return Value(Kind.REQUEST, f"{self.code(e)} is raw request input")
        if segments[:1] != ["()"] and self._is_exception(self._assignments(node)):
            last = named[-1] if named else ""
            if last in BOUNDED_ATTRS:
                return BOUNDED
            if not named or named[0] in EXCEPTION_ATTRS or segments[0].startswith("["):
                return Value(Kind.EXCEPTION, f"{self.code(e)} is the text of an exception")
        if not named:
            return UNKNOWN
        last = named[-1]
        if last in BOUNDED_ATTRS:
            return BOUNDED
        if last in ("value", "name") and len(named) >= 2 and named[-2].isupper():
            return BOUNDED  # Status.OK.value, Color.RED.name
        if last.isupper() and root[:1].isupper():
            return BOUNDED  # Status.OK
        if segments[-1] != "()":
            return self._by_name(last) if not last.isupper() else BOUNDED
        return UNKNOWN

    def dict_items(self, expr: cst.BaseExpression) -> tuple[list[tuple[str, Value]], bool] | None:
        """The classified items of a dict literal, or of the one a local name is bound to, and whether that is all
        of them (False when a key does not fold to a string, or ``**`` spreads another mapping into it)."""
        found = self.local_dict(expr)
        if found is None:
            return None
        out: list[tuple[str, Value]] = []
        complete = True
        for el in found.elements:
            key = fold_str(el.key, self.constants) if isinstance(el, cst.DictElement) else None
            if key is None or not isinstance(el, cst.DictElement):
                complete = False
                continue
            out.append((key, self.classify(el.value)))
        return out, complete

    def local_dict(self, expr: cst.BaseExpression) -> cst.Dict | None:
        """The dict literal a name is bound to by its only assignment (``attrs = {...}; c.add(1, attrs)``)."""
        if isinstance(expr, cst.Dict):
            return expr
        if not isinstance(expr, cst.Name):
            return None
        assigned = self._assignments(expr)
        if len(assigned) != 1:
            return None
        parent = self.parent(assigned[0].node)
        if isinstance(parent, cst.AssignTarget):
            parent = self.parent(parent)
        if isinstance(parent, cst.Assign) and isinstance(parent.value, cst.Dict):
            return parent.value
        return None

    def dynamic_name(self, expr: cst.BaseExpression) -> Value | None:
        """The name's value when it is built from unbounded runtime parts; a plain parameter (a factory) is not."""
        value = self.classify(expr)
        return value if value.kind in (Kind.UNBOUNDED, Kind.REQUEST, Kind.EXCEPTION) else None
