"""Constant folding of the few expressions metric definitions are written with: strings (literals, f-strings of
constants, ``+``), label lists (literals, ``+``, ``*`` spreads, ``list()``/``tuple()``, constants, and through a
``lookup`` what attributes and names are bound to), integers and ``range()`` lengths, and call arguments by
position or keyword. Pure functions of libcst nodes; what they cannot fold is None.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import libcst as cst

from parapet.spec.model import ArgRef


def fold_str(expr: cst.BaseExpression, constants: dict[str, object]) -> str | None:
    if isinstance(expr, cst.SimpleString):
        try:
            value = expr.evaluated_value
        except (SyntaxError, ValueError):  # '\N{NO SUCH NAME}': libcst parses it, Python cannot evaluate it
            return None
        return value if isinstance(value, str) else None
    if isinstance(expr, cst.ConcatenatedString):
        left, right = fold_str(expr.left, constants), fold_str(expr.right, constants)
        return None if left is None or right is None else left + right
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        left, right = fold_str(expr.left, constants), fold_str(expr.right, constants)
        return None if left is None or right is None else left + right
    if isinstance(expr, cst.FormattedString):
        out = []
        for part in expr.parts:
            if isinstance(part, cst.FormattedStringText):
                out.append(part.value)
            elif isinstance(part, cst.FormattedStringExpression) and part.format_spec is None:
                inner = fold_str(part.expression, constants)
                if inner is None:
                    return None
                out.append(inner)
            else:
                return None
        return "".join(out)
    if isinstance(expr, cst.Name):
        constant = constants.get(expr.value)
        return constant if isinstance(constant, str) else None
    return None


Lookup = Callable[[cst.BaseExpression], cst.BaseExpression | None]


def fold_names(
    expr: cst.BaseExpression, constants: dict[str, object], lookup: Lookup | None = None, depth: int = 0
) -> tuple[str, ...] | None:
    """A label list folded to its names: literals, the module's constants, ``+``, ``list()``/``tuple()``, ``*``
    spreads, and with ``lookup`` the expression an attribute or local name is bound to (``self._labels``)."""
    if depth > 6:
        return None

    def fold(e: cst.BaseExpression) -> tuple[str, ...] | None:
        return fold_names(e, constants, lookup, depth + 1)

    if isinstance(expr, cst.List | cst.Tuple):
        out: list[str] = []
        for el in expr.elements:
            if isinstance(el, cst.StarredElement):
                spread = fold(el.value)
                if spread is None:
                    return None
                out.extend(spread)
                continue
            folded = fold_str(el.value, constants)
            if folded is None:
                return None
            out.append(folded)
        return tuple(out)
    if isinstance(expr, cst.Name) and isinstance(constants.get(expr.value), tuple):
        found = constants[expr.value]
        assert isinstance(found, tuple)
        return found
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        left, right = fold(expr.left), fold(expr.right)
        return None if left is None or right is None else left + right
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in ("list", "tuple"):
        return fold(expr.args[0].value) if len(expr.args) == 1 and not expr.args[0].star else None
    if lookup is not None and isinstance(expr, cst.Name | cst.Attribute):
        bound = lookup(expr)
        return None if bound is None else fold(bound)
    return None


def bucket_count(bounds: int, last: cst.BaseExpression | None) -> int:
    """prometheus_client appends +Inf unless the last bound already is infinite."""
    if last is not None and is_inf(last):
        return bounds
    return bounds + 1


def is_inf(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Name):
        return expr.value in ("INF", "inf", "INFINITY")
    if isinstance(expr, cst.Attribute):
        return expr.attr.value in ("inf", "INF", "infinity")
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "float" and expr.args:
        text = fold_str(expr.args[0].value, {})
        return text is not None and text.strip().lstrip("+").lower() in ("inf", "infinity")
    return False


def int_literal(expr: cst.BaseExpression) -> int | None:
    if isinstance(expr, cst.Integer):
        try:
            value = expr.evaluated_value
        except (SyntaxError, ValueError):  # more digits than int() converts (sys.set_int_max_str_digits)
            return None
        return value if isinstance(value, int) else None
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = int_literal(expr.expression)
        return None if inner is None else -inner
    return None


def range_length(call: cst.BaseExpression) -> int | None:
    """The length of ``range(...)`` with literal arguments."""
    if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value == "range"):
        return None
    args = [int_literal(a.value) for a in call.args]
    if not args or len(args) > 3 or any(a is None for a in args) or any(a.keyword for a in call.args):
        return None
    numbers = [a for a in args if a is not None]
    start, stop, step = (0, numbers[0], 1) if len(numbers) == 1 else (numbers[0], numbers[1], 1)
    if len(numbers) == 3:
        step = numbers[2]
    if step == 0:
        return None
    return max(0, math.ceil((stop - start) / step))


def module_constants(tree: cst.Module) -> dict[str, object]:
    """``NAME = "text"`` and ``NAMES = ("a", "b")`` at module level, folded in order."""
    constants: dict[str, object] = {}
    for stmt in tree.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            target: cst.BaseExpression | None = None
            value: cst.BaseExpression | None = None
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                target, value = small.targets[0].target, small.value
            elif isinstance(small, cst.AnnAssign) and small.value is not None:
                target, value = small.target, small.value
            if not isinstance(target, cst.Name) or value is None:
                continue
            folded: object = fold_str(value, constants)
            if folded is None:
                folded = fold_names(value, constants)
            if folded is None and isinstance(value, cst.Dict | cst.Set):
                folded = "<collection>"
            if folded is not None:
                constants[target.value] = folded
    return constants


def arg(call: cst.Call, index: int | None, keyword: str | None) -> cst.BaseExpression | None:
    """The argument given by ``keyword``, else the ``index``-th positional one (None: keyword only)."""
    for a in call.args:
        if keyword is not None and a.keyword is not None and a.keyword.value == keyword:
            return a.value
    if index is None:
        return None
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return positional[index].value if index < len(positional) else None


def ref(call: cst.Call, ref: ArgRef) -> cst.BaseExpression | None:
    """The argument a wrapper's ``(position, keyword)`` points at."""
    position, keyword = ref
    return arg(call, position, keyword)
