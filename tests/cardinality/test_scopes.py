"""``scopes.py`` answers what libcst's ``ScopeProvider`` answers: the same scope for every node, the same
assignments for every name, the same qualified names for every name, attribute and call, the calls and imports in
the order a libcst visitor meets them, and each node's parent; and its table of fields is libcst's own order."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, ParentNodeProvider, Scope, ScopeProvider

from parapet_cli.analyzers.cardinality import scopes
from parapet_cli.analyzers.cardinality.scopes import ScopeTables

# Fields that hold only layout: whitespace, brackets, separators, operators, ``async``.
LAYOUT = {
    "asynchronous",
    "colon",
    "comma",
    "dot",
    "equal",
    "first_colon",
    "footer",
    "header",
    "lbrace",
    "lbracket",
    "leading_lines",
    "leading_whitespace",
    "lines_after_decorators",
    "lpar",
    "operator",
    "posonly_ind",
    "rbrace",
    "rbracket",
    "relative",
    "rpar",
    "second_colon",
    "semicolon",
    "separator",
    "trailing_comma",
    "trailing_whitespace",
    # whitespace_* fields and the parts of whitespace nodes
    "comment",
    "empty_lines",
    "first_line",
    "last_line",
    "newline",
    "whitespace",
}


def _node_classes(cls: type) -> set[type]:
    out = {cls}
    for sub in cls.__subclasses__():
        out |= _node_classes(sub)
    return out


def derived_fields() -> dict[str, tuple[str, ...]]:
    """Each node class's fields in the order its ``_visit_and_replace_children`` visits them, layout left out."""
    table: dict[str, tuple[str, ...]] = {}
    for cls in sorted(_node_classes(cst.CSTNode), key=lambda c: c.__name__):
        method = cls.__dict__.get("_visit_and_replace_children")
        if method is None or not hasattr(cst, cls.__name__):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(method)))
        calls = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id.startswith("visit_")
        ]
        calls.sort(key=lambda n: (n.lineno, n.col_offset))
        fields: list[str] = []
        for call in calls:
            name = call.args[1]
            assert isinstance(name, ast.Constant) and isinstance(name.value, str)
            if name.value not in LAYOUT and not name.value.startswith("whitespace") and name.value not in fields:
                fields.append(name.value)
        if fields:
            table[cls.__name__] = tuple(fields)
    return table


def test_fields_are_libcsts_visiting_order() -> None:
    assert derived_fields() == scopes.FIELDS


TRICKY = """
import os, a.b.c as abc, prometheus_client
import prometheus_client as pc
from prometheus_client import Counter as C, Histogram
from . import sibling
from .metrics import REQUESTS as R
from typing import cast, NewType

X = C("x_total", "X.", ["a"])
Y: "Histogram" = pc.Histogram("y", "Y.")
Counter = prometheus_client.Counter
Z = Counter("z_total", "Z.")
UserId = NewType("UserId", int)
value = cast("str", X)

@decorate(lambda q: q in ALLOWED, X)
def handler(request, user_id: int = os.getpid(), *args, key=abc.d, **kw) -> C:
    global X
    X = R
    total = 0
    for i, (j, *k) in enumerate(request.items()):
        total += i
        label = j if j in ("a", "b") else k
        X.labels(label).inc()
    with open(user_id) as (f, g), pc.x as h:
        (walrus := f.read())
    try:
        pass
    except ValueError as exc:
        X.labels(str(exc)).inc()
    del total
    values = [x.y for x in request if x in {1, 2} for y in x.z(y)]
    gen = {k: v for k, v in kw.items()}
    return lambda a, b=total: a.b(c).d[e].f(walrus)

class Metrics(Base, metaclass=Meta):
    LABELS = ["a"]
    counter = Counter("c", "C.", LABELS)

    def __init__(self):
        self.labels = ["b"]
        self.total = C("t", "T.", self.labels)

    def use(self):
        nonlocal_ = self.total
        def inner():
            nonlocal nonlocal_
            nonlocal_ = 1
            return nonlocal_
        self.total.labels(*self.labels).inc()
        Metrics.counter.labels("a").inc()
        return inner

match command:
    case Point(x=0, y=yy) | [first, *rest]:
        print(yy, first, rest)
    case {"k": vv, **others} if vv > 0:
        pass
    case str() as text:
        pass

print(f"{X!r:>{width}}", sibling.f(R)(1)(2), a.b.c.d, abc.e)
"""


def _sources() -> list[tuple[str, str]]:
    here = Path(__file__).resolve().parents[2] / "src" / "parapet_cli" / "analyzers" / "cardinality"
    names = ("recognize.py", "classify.py", "scopes.py")
    return [("tricky", TRICKY)] + [(name, (here / name).read_text()) for name in names]


def _scope_key(scope: Scope) -> tuple[str, int]:
    return type(scope).__name__, id(getattr(scope, "node", None))


@pytest.mark.parametrize(("name", "source"), _sources(), ids=lambda v: v if len(v) < 40 else "")
def test_scopes_agree_with_libcst(name: str, source: str) -> None:
    tree = cst.parse_module(source)
    wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
    theirs = wrapper.resolve(ScopeProvider)
    parents = wrapper.resolve(ParentNodeProvider)
    ours = ScopeTables.of(tree)
    compared = 0
    for node, scope in ours.scopes.items():
        their_scope = theirs.get(node)
        if their_scope is None:  # NewType's name: libcst skips it, scopes.py does not (no question asks of it)
            assert isinstance(node, cst.Arg | cst.BaseString), node
            continue
        assert _scope_key(scope) == _scope_key(their_scope), node
        if isinstance(node, cst.Name):
            mine = {(a.name, id(getattr(a, "node", None)), _scope_key(a.scope)) for a in scope[node.value]}
            libcsts = {(a.name, id(getattr(a, "node", None)), _scope_key(a.scope)) for a in their_scope[node.value]}
            assert mine == libcsts, node.value
        if isinstance(node, cst.Name | cst.Attribute | cst.Call):
            mine_q = {(q.name, q.source) for q in scope.get_qualified_names_for(node)}
            libcst_q = {(q.name, q.source) for q in their_scope.get_qualified_names_for(node)}
            assert mine_q == libcst_q, cst.Module([]).code_for_node(node)
            compared += 1
    # every expression and statement of the tree has its scope (libcst also scopes nodes of parsed annotations)
    for node in theirs:
        if (node in parents or node is tree) and isinstance(node, cst.BaseExpression | cst.BaseStatement):
            assert node in ours.scopes or isinstance(node, cst.BaseString), node
    for node, parent in ours.parents.items():
        assert parents[node] is parent

    events: list[cst.CSTNode] = []

    class Events(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            if isinstance(node, cst.Module | cst.Import | cst.ImportFrom | cst.Call):
                events.append(node)
            return True

    tree.visit(Events())
    assert [id(n) for n in ours.events] == [id(n) for n in events]
    assert compared > 10
