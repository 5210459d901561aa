"""Parse one file with libcst and extract its metric definitions and the calls that set label values.

    analyze_source(path, source) -> FileFacts

The recogniser is three things, one module each: the knowledge tables (``knowledge.py``: which calls are metrics,
which values are unbounded), the walk (this module: definitions, uses and the keys the repository's index matches
across files, over the parsed module of ``source.py``), and the classification of values (``classify.py``).
Constant folding is ``fold.py``; where calls are, ``positions.py``.

Metric classes are recognised by their qualified name (asked of libcst's scope analysis), so ``from prometheus_client
import Counter as C``, ``import prometheus_client as pc`` and ``prometheus_client.metrics.Counter`` are all a
counter, and ``enum.Enum`` is not prometheus_client's ``Enum``. Names fold through string literals and the
module's own constants; label lists also through class attributes, ``self.…`` set in methods and local names.
Each value passed to ``.labels()``, ``.remove()`` or ``.add_metric()`` is classified where the syntax tree and its
scopes are at hand.

The project's own factories (``wrappers`` of the configuration, ``MetricWrapper``) are definitions too, matched
by the qualified name of what is called or, for patterns, by the call as written. A histogram's buckets are
counted where they fold (literal lists, constants, ``exponential_buckets(start, factor, count)``-style calls,
comprehensions over ``range(n)``), +Inf included as prometheus_client adds it.

A file that is not UTF-8, does not parse, or nests past the budgets of ``prune.py`` gives facts with ``error`` set
(a PAR000 note), never an exception.
"""

from __future__ import annotations

import ast
import bisect
import fnmatch
import gc
from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m
from libcst.metadata import Assignment, MetadataWrapper, QualifiedNameSource

from parapet.spec.model import MetricWrapper
from parapet_cli.analyzers.cardinality.classify import Classifier
from parapet_cli.analyzers.cardinality.fold import (
    arg,
    bucket_count,
    fold_names,
    fold_str,
    int_literal,
    module_constants,
    range_length,
    ref,
)
from parapet_cli.analyzers.cardinality.knowledge import (
    BUCKET_CALLS,
    FRAMEWORKS,
    METRIC_CLASSES,
    MULTIPROCESS_WORDS,
    OTEL_CREATE,
    OTEL_DEFAULT_BUCKETS,
    OTEL_METHODS,
    PROMETHEUS_DEFAULT_BUCKETS,
    USE_METHODS,
)
from parapet_cli.analyzers.cardinality.model import Definition, FileFacts, Use, Value
from parapet_cli.analyzers.cardinality.positions import CallPositions
from parapet_cli.analyzers.cardinality.prune import prune_spans, python_tree_and_calls, source_lines
from parapet_cli.analyzers.cardinality.scopes import ScopeTables
from parapet_cli.analyzers.cardinality.source import absolute, module_name

__all__ = ["Recognizer", "absolute", "analyze_source", "module_name"]


def analyze_source(path: str, source: str | bytes, wrappers: Sequence[MetricWrapper] = ()) -> FileFacts:
    """The facts of one file; a file that does not parse gives facts with ``error`` set, never an exception.
    ``wrappers`` are the project's own metric factories (``Config.wrappers``).

    Python's cyclic garbage collector is paused meanwhile: libcst makes hundreds of thousands of objects per
    file, which trigger full collections that find nothing (a third of the time on a large module); what the
    file's analysis leaves behind is freed by reference counting, or by the next collection after it."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return _analyze_source(path, source, wrappers)
    finally:
        if paused:
            gc.enable()


def _analyze_source(path: str, source: str | bytes, wrappers: Sequence[MetricWrapper]) -> FileFacts:
    module, is_package = module_name(path)
    try:
        text = source.decode("utf-8") if isinstance(source, bytes) else source
    except UnicodeDecodeError as exc:
        return FileFacts(path, module, error=f"it is not UTF-8: {exc.reason}")
    # prune() keeps only code that mentions prometheus_client's words; a file that calls a wrapper is parsed whole
    wrapped = any(w.call.rsplit(".", 1)[-1].strip("*?") in text for w in wrappers)
    tree_of_ast, ast_calls, too_deep = python_tree_and_calls(text)
    if too_deep is not None:
        return FileFacts(path, module, error=too_deep)
    parsed, stubbed = (text, []) if wrapped else prune_spans(text, tree_of_ast)
    try:
        tree = cst.parse_module(parsed)
    except (cst.ParserSyntaxError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return FileFacts(path, module, error=f"libcst cannot parse it: {first}")
    recognizer = Recognizer(
        path, module, is_package, [line.rstrip("\r\n") for line in source_lines(text)], tuple(wrappers)
    )
    recognizer.parsed = parsed
    # the calls ast found in the text, less those in the functions pruning stubbed out, are the parsed text's calls
    recognizer.ast_calls = None if tree_of_ast is None else _outside(ast_calls, stubbed)
    try:
        recognizer.run(tree)
    except RecursionError:  # the walks recurse once per level of nesting: a generated expression can go too deep
        return FileFacts(path, module, error="it nests expressions too deeply for the analyzer")
    return FileFacts(
        path,
        module,
        tuple(recognizer.definitions),
        tuple(recognizer.uses),
        recognizer.framework,
        multiprocess=recognizer.multiprocess or any(word in text for word in MULTIPROCESS_WORDS),
    )


def _outside(calls: list[ast.Call], spans: list[tuple[int, int]]) -> list[ast.Call]:
    """The calls that start on no line of ``spans`` (sorted (first, last) line ranges that do not overlap)."""
    if not spans:
        return calls
    firsts = [first for first, _ in spans]
    out = []
    for call in calls:
        i = bisect.bisect_right(firsts, call.lineno) - 1
        if i < 0 or call.lineno > spans[i][1]:
            out.append(call)
    return out


class Recognizer(Classifier):
    """The walk: the module's imports and calls in source order, each call a definition, a use or nothing; the
    keys definitions are bound to and uses point at, which the repository's index matches across files."""

    def __init__(
        self, path: str, module: str, is_package: bool, lines: Sequence[str], wrappers: tuple[MetricWrapper, ...] = ()
    ) -> None:
        super().__init__(path, module, is_package, lines)
        self.wrappers = wrappers
        self.definitions: list[Definition] = []
        self.uses: list[Use] = []
        self.framework: str | None = None
        self.otel = False  # the file imports opentelemetry
        self.multiprocess = False  # the file imports prometheus_client.multiprocess
        self._class_attributes: dict[cst.ClassDef, dict[str, list[cst.BaseExpression]]] = {}
        self.parsed = ""  # the text libcst parsed, which is the tree's code exactly
        self.ast_calls: list[ast.Call] | None = None  # ast's calls of that text, when known

    def visit_Module(self, node: cst.Module) -> None:
        self._tree = node
        self.constants = module_constants(node)

    def run(self, tree: cst.Module) -> None:
        """Visit, in source order, the module, its imports and its calls (``scopes.py`` recorded them)."""
        tables = ScopeTables.of(tree)
        self._parents = tables.parents
        self._scopes = tables.scopes
        self._guards = tables.guards
        # positions.py pairs calls with ast's; libcst's PositionProvider (through a wrapper) only when that fails
        calls = [n for n in tables.events if isinstance(n, cst.Call)]
        wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
        self._positions = CallPositions(self.parsed, calls, wrapper, self.ast_calls)
        for node in tables.events:
            if isinstance(node, cst.Call):
                self.visit_Call(node)
            elif isinstance(node, cst.Import):
                self.visit_Import(node)
            elif isinstance(node, cst.ImportFrom):
                self.visit_ImportFrom(node)
            elif isinstance(node, cst.Module):
                self.visit_Module(node)

    def _note_framework(self, module: str) -> None:
        top = module.split(".")[0]
        self.otel = self.otel or top == "opentelemetry"
        if top in FRAMEWORKS and (self.framework is None or FRAMEWORKS.index(top) < FRAMEWORKS.index(self.framework)):
            self.framework = top

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            self._note_framework(self.code(alias.name))
            self.multiprocess = self.multiprocess or self.code(alias.name) == "prometheus_client.multiprocess"

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.module is not None and not node.relative:
            module = self.code(node.module)
            self._note_framework(module)
            if module == "prometheus_client.multiprocess" or (
                module == "prometheus_client"
                and not isinstance(node.names, cst.ImportStar)
                and any(self.code(a.name) == "multiprocess" for a in node.names)
            ):
                self.multiprocess = True

    # -------------------------------------------------------------------------------------- definitions

    def metric_class(self, call: cst.Call) -> str | None:
        names = self.qualified(call.func)
        if isinstance(call.func, cst.Name):  # Counter = prometheus_client.Counter: follow one assignment
            for a in self._assignments(call.func):
                parent = self.parent(a.node)
                assign = self.parent(parent) if isinstance(parent, cst.AssignTarget) else None
                if isinstance(assign, cst.Assign):
                    names |= self.qualified(assign.value)
        for name in names:
            parts = name.split(".")
            if parts[0] == "prometheus_client" and len(parts) > 1 and parts[-1] in METRIC_CLASSES:
                return parts[-1]
        return None

    def wrapper_for(self, call: cst.Call) -> MetricWrapper | None:
        """The configured wrapper ``call`` calls: by qualified name (as imported, or ``module.name`` for the
        module's own functions), or by the call as written."""
        if not self.wrappers:
            return None
        names = set(self.qualified(call.func))
        names |= {f"{self.module}.{n}" for n in names if "." not in n}
        if isinstance(call.func, cst.Name | cst.Attribute):
            names.add(self.code(call.func))
        names |= {"." + n for n in names}  # so that "*.metrics.counter" also matches metrics.counter(...)
        for wrapper in self.wrappers:
            if any(fnmatch.fnmatchcase(n, wrapper.call) for n in names):
                return wrapper
        return None

    def visit_Call(self, node: cst.Call) -> None:
        cls = self.metric_class(node)
        if cls is not None:
            self.definitions.append(self.definition(node, cls))
            return
        wrapper = self.wrapper_for(node)
        if wrapper is not None:
            self.definitions.append(self.wrapped(node, wrapper))
            return
        func = node.func
        if not isinstance(func, cst.Attribute):
            return
        if func.attr.value in USE_METHODS:
            self.uses.append(self.use(node, func))
        elif self.otel and func.attr.value in OTEL_CREATE:
            name_expr = arg(node, 0, "name")
            name = fold_str(name_expr, self.constants) if name_expr is not None else None
            kind = OTEL_CREATE[func.attr.value]
            dynamic = self.dynamic_name(name_expr) if name is None and name_expr is not None else None
            buckets = None
            if kind == "histogram":
                advisory = arg(node, None, "explicit_bucket_boundaries_advisory")
                bounds = self.bounds(advisory) if advisory is not None else OTEL_DEFAULT_BUCKETS - 1
                buckets = None if bounds is None else bounds + 1  # OpenTelemetry adds the +Inf bucket
            self.definitions.append(
                Definition(
                    self.binding(node),
                    kind,
                    name,
                    None,
                    self.site(node),
                    otel=True,
                    dynamic_name=dynamic,
                    buckets=buckets,
                )
            )
        elif self.otel and func.attr.value in OTEL_METHODS:
            attributes = arg(node, 1, "attributes")
            if attributes is not None:
                self.uses.append(self.otel_use(node, func, attributes))

    def otel_use(self, call: cst.Call, func: cst.Attribute, attributes: cst.BaseExpression) -> Use:
        items = self.dict_items(attributes)
        keywords, star = (items[0], not items[1]) if items is not None else ([], True)
        receiver = func.value
        attr = receiver.attr.value if isinstance(receiver, cst.Attribute) else self.code(receiver)
        return Use(func.attr.value, self.targets(receiver), attr, (), tuple(keywords), star, self.site(call))

    def definition(self, call: cst.Call, cls: str) -> Definition:
        kind, label_index, label_keyword = METRIC_CLASSES[cls]
        family = cls.endswith("MetricFamily")
        name_expr = arg(call, 0, "name")
        name = fold_str(name_expr, self.constants) if name_expr is not None else None
        if name is not None and not family:
            for index, keyword in ((4, "subsystem"), (3, "namespace")):
                expr = arg(call, index, keyword)
                part = "" if expr is None else fold_str(expr, self.constants)
                name = None if part is None or name is None else (f"{part}_{name}" if part else name)
        labels_expr = arg(call, label_index, label_keyword)
        labels: tuple[str, ...] | None = ()
        if labels_expr is not None:
            labels = self.fold_labels(labels_expr)
        mode_expr = arg(call, None, "multiprocess_mode")
        mode = fold_str(mode_expr, self.constants) if mode_expr is not None else None
        if mode_expr is not None and mode is None:
            mode = "?"  # given but not a constant (a parameter): not "missing", and no mode to judge
        dynamic = self.dynamic_name(name_expr) if name is None and name_expr is not None else None
        buckets = None
        if kind == "histogram" and not family:
            buckets = self.histogram_buckets(arg(call, None, "buckets"))
        return Definition(
            self.binding(call),
            kind,
            name,
            labels,
            self.site(call),
            family,
            mode,
            dynamic_name=dynamic,
            buckets=buckets,
        )

    def wrapped(self, call: cst.Call, wrapper: MetricWrapper) -> Definition:
        """A metric made by one of the project's own factories."""
        name_expr = ref(call, wrapper.name)
        name = fold_str(name_expr, self.constants) if name_expr is not None else None
        labels_expr = ref(call, wrapper.labels)
        labels = () if labels_expr is None else self.fold_labels(labels_expr)
        dynamic = self.dynamic_name(name_expr) if name is None and name_expr is not None else None
        buckets = None  # the factory's own default buckets are unknown
        if wrapper.kind == "histogram" and (buckets_expr := ref(call, wrapper.buckets)) is not None:
            buckets = self.bounds(buckets_expr, with_inf=True)
        return Definition(
            self.binding(call), wrapper.kind, name, labels, self.site(call), dynamic_name=dynamic, buckets=buckets
        )

    # ------------------------------------------------------------------------------------------- labels

    def fold_labels(self, expr: cst.BaseExpression) -> tuple[str, ...] | None:
        """The label names of a definition, followed through what attributes and local names are bound to."""
        return fold_names(expr, self.constants, self.bound_value)

    def bound_value(self, expr: cst.BaseExpression) -> cst.BaseExpression | None:
        """The one expression ``expr`` is bound to: ``self.x`` / ``cls.x`` / ``Klass.x`` assigned once in the class
        (its body, or ``self.x = …`` in its methods), or a local name assigned once; None when unknown."""
        if isinstance(expr, cst.Name):
            return self.only_value(expr)
        if not (isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name)):
            return None
        owner = expr.value.value
        cls: cst.ClassDef | None = None
        if owner in ("self", "cls"):
            cls = self.enclosing_class_node(self.scope_of(expr))
        elif self._tree is not None:
            cls = next((c for c in self._tree.body if isinstance(c, cst.ClassDef) and c.name.value == owner), None)
        if cls is None:
            return None
        values = self.class_attributes(cls).get(expr.attr.value, [])
        return values[0] if len(values) == 1 else None

    def class_attributes(self, cls: cst.ClassDef) -> dict[str, list[cst.BaseExpression]]:
        """Every value each attribute of ``cls`` is given: ``NAME = …`` in its body and ``self.NAME = …`` in its
        methods (an augmented ``+=`` counts as a second, unknown value)."""
        found = self._class_attributes.get(cls)
        if found is not None:
            return found
        table: dict[str, list[cst.BaseExpression]] = {}
        for stmt in cls.body.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.Assign) and len(small.targets) == 1:
                        target = small.targets[0].target
                        if isinstance(target, cst.Name):
                            table.setdefault(target.value, []).append(small.value)
                    elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value:
                        table.setdefault(small.target.value, []).append(small.value)
            elif isinstance(stmt, cst.FunctionDef):
                for node in m.findall(stmt, m.Assign() | m.AugAssign()):
                    if isinstance(node, cst.Assign):
                        targets = [t.target for t in node.targets]
                    elif isinstance(node, cst.AugAssign):
                        targets = [node.target]
                    else:
                        continue
                    for target in targets:
                        if m.matches(target, m.Attribute(value=m.Name("self"))):
                            assert isinstance(target, cst.Attribute)
                            value = (
                                node.value if isinstance(node, cst.Assign) else cst.Ellipsis()
                            )  # augmented: not a value to fold
                            table.setdefault(target.attr.value, []).append(value)
        self._class_attributes[cls] = table
        return table

    # ------------------------------------------------------------------------------------------ buckets

    def histogram_buckets(self, expr: cst.BaseExpression | None) -> int | None:
        """The buckets of a prometheus_client histogram, +Inf included: the default 15 when none are given."""
        if expr is None:
            return PROMETHEUS_DEFAULT_BUCKETS
        return self.bounds(expr, with_inf=True)

    def bounds(self, expr: cst.BaseExpression, *, with_inf: bool = False, depth: int = 0) -> int | None:
        """How many bounds ``expr`` holds (with ``with_inf``: how many buckets prometheus_client makes of them),
        or None when it does not fold."""
        folded = self._bounds(expr, depth)
        if folded is None:
            return None
        count, last = folded
        return bucket_count(count, last) if with_inf else count

    def _bounds(self, e: cst.BaseExpression, depth: int) -> tuple[int, cst.BaseExpression | None] | None:
        """(number of bounds, the last bound's expression when it is written out)."""
        if depth > 3:
            return None
        if isinstance(e, cst.List | cst.Tuple):
            count, last = 0, None
            for el in e.elements:
                if isinstance(el, cst.StarredElement):
                    inner = self._bounds(el.value, depth + 1)
                    if inner is None:
                        return None
                    count, last = count + inner[0], inner[1]
                else:
                    count, last = count + 1, el.value
            return count, last
        if isinstance(e, cst.BinaryOperation) and isinstance(e.operator, cst.Add):
            left, right = self._bounds(e.left, depth + 1), self._bounds(e.right, depth + 1)
            if left is None or right is None:
                return None
            return left[0] + right[0], right[1] if right[0] else left[1]
        if isinstance(e, cst.ListComp | cst.GeneratorExp) and e.for_in.inner_for_in is None and not e.for_in.ifs:
            n = range_length(e.for_in.iter)
            return None if n is None else (n, None)
        if isinstance(e, cst.Call):
            names = self.qualified(e.func) | ({e.func.value} if isinstance(e.func, cst.Name) else set())
            short = {n.rsplit(".", 1)[-1] for n in names}
            if short & {"list", "tuple", "sorted"} and len(e.args) == 1:
                return self._bounds(e.args[0].value, depth + 1)
            for name in short & BUCKET_CALLS.keys():
                index, keyword = BUCKET_CALLS[name]
                n_expr = arg(e, index, keyword)
                n = int_literal(n_expr) if n_expr is not None else None
                return None if n is None else (n, None)
            return None
        if isinstance(e, cst.Attribute) and e.attr.value == "DEFAULT_BUCKETS":
            return PROMETHEUS_DEFAULT_BUCKETS, cst.Name("INF")
        if isinstance(e, cst.Name) and (value := self.only_value(e)) is not None:
            return self._bounds(value, depth + 1)
        return None

    def binding(self, call: cst.Call) -> str:
        """The key a constructed metric is bound to, or "" when it is not assigned to a name."""
        parent = self.parent(call)
        target: cst.BaseExpression | None = None
        if isinstance(parent, cst.Assign) and len(parent.targets) == 1:
            target = parent.targets[0].target
        elif isinstance(parent, cst.AnnAssign):
            target = parent.target
        if target is None or parent is None:
            return ""
        scope = self.scope_of(parent)
        if isinstance(target, cst.Name):
            return self.scoped_key(scope, target.value)
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self":
            cls = self.enclosing_class(scope)
            return f"{self.module}.{cls}.{target.attr.value}" if cls else ""
        return ""

    # --------------------------------------------------------------------------------------------- uses

    def use(self, call: cst.Call, func: cst.Attribute) -> Use:
        receiver = func.value
        positional: list[Value] = []
        keywords: list[tuple[str, Value]] = []
        star = False
        args = list(call.args)
        if func.attr.value == "add_metric":
            first = args[0].value if args and args[0].keyword is None else arg(call, None, "labels")
            args = []
            if isinstance(first, cst.List | cst.Tuple):
                for el in first.elements:
                    if isinstance(el, cst.Element):
                        positional.append(self.classify(el.value))
                    else:
                        star = True
            else:
                star = True
        for a in args:
            if a.star == "**" and (items := self.dict_items(a.value)) is not None and items[1]:
                keywords.extend(items[0])  # .labels(**{"queue": q}) or labels = {...}; .labels(**labels)
            elif a.star:
                star = True
            elif a.keyword is not None:
                keywords.append((a.keyword.value, self.classify(a.value)))
            else:
                positional.append(self.classify(a.value))
        attr = receiver.attr.value if isinstance(receiver, cst.Attribute) else self.code(receiver)
        return Use(
            func.attr.value, self.targets(receiver), attr, tuple(positional), tuple(keywords), star, self.site(call)
        )

    def targets(self, receiver: cst.BaseExpression) -> tuple[str, ...]:
        out: list[str] = []
        scope = self.scope_of(receiver)
        cls = self.enclosing_class(scope)
        if cls and m.matches(receiver, m.Attribute(value=m.Name("self") | m.Name("cls"))):
            assert isinstance(receiver, cst.Attribute)
            out.append(f"{self.module}.{cls}.{receiver.attr.value}")
        if isinstance(receiver, cst.Name) and scope is not None:
            for a in scope[receiver.value]:
                if isinstance(a, Assignment) and not isinstance(a.node, cst.Import | cst.ImportFrom):
                    out.append(self.scoped_key(a.scope, receiver.value))
        for q in sorted(self.qualified_names(receiver), key=lambda q: q.name):
            if q.source is QualifiedNameSource.IMPORT:
                out.append(absolute(q.name, self.module, self.is_package))
            elif q.source is QualifiedNameSource.LOCAL and "." in q.name:
                out.append(f"{self.module}.{q.name}")
        return tuple(dict.fromkeys(out))
