"""Parse one file with libcst and extract its metric definitions and the calls that set label values.

    analyze_source(path, source) -> FileFacts

Metric classes are recognised by their qualified name (asked of libcst's scope analysis), so ``from prometheus_client
import Counter as C``, ``import prometheus_client as pc`` and ``prometheus_client.metrics.Counter`` are all a
counter, and ``enum.Enum`` is not prometheus_client's ``Enum``. Names fold through string literals and the
module's own constants. Each value passed to ``.labels()``, ``.remove()`` or ``.add_metric()`` is classified
(``Kind``) here, where the syntax tree and its scopes are at hand: one level of local assignment is followed,
through closures, and ``x in ALLOWED`` anywhere in the function bounds ``x``.

The project's own factories (``wrappers`` of the configuration, ``MetricWrapper``) are definitions too, matched
by the qualified name of what is called or, for patterns, by the call as written. A histogram's buckets are
counted where they fold (literal lists, constants, ``exponential_buckets(start, factor, count)``-style calls,
comprehensions over ``range(n)``), +Inf included as prometheus_client adds it.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import PurePosixPath
from typing import cast

import libcst as cst
import libcst.matchers as m
from libcst.metadata import (
    Assignment,
    BatchableMetadataProvider,
    ClassScope,
    CodePosition,
    FunctionScope,
    GlobalScope,
    MetadataWrapper,
    QualifiedName,
    QualifiedNameSource,
    Scope,
    ScopeProvider,
)

from parapet.spec.model import ArgRef, MetricWrapper
from parapet_cli.analyzers.cardinality.model import (
    BOUNDED,
    UNKNOWN,
    Definition,
    FileFacts,
    Kind,
    Site,
    Use,
    Value,
)
from parapet_cli.analyzers.cardinality.names import unbounded_name
from parapet_cli.analyzers.cardinality.positions import CallPositions
from parapet_cli.analyzers.cardinality.prune import prune, python_tree, source_lines
from parapet_cli.doctor.findings import Confidence

# prometheus_client class -> (kind, index of the label names when passed by position, their keyword)
METRIC_CLASSES: dict[str, tuple[str, int, str]] = {
    "Counter": ("counter", 2, "labelnames"),
    "Gauge": ("gauge", 2, "labelnames"),
    "Histogram": ("histogram", 2, "labelnames"),
    "Summary": ("summary", 2, "labelnames"),
    "Info": ("info", 2, "labelnames"),
    "Enum": ("enum", 2, "labelnames"),
    "CounterMetricFamily": ("counter", 3, "labels"),
    "GaugeMetricFamily": ("gauge", 3, "labels"),
    "HistogramMetricFamily": ("histogram", 4, "labels"),
    "GaugeHistogramMetricFamily": ("histogram", 4, "labels"),
    "SummaryMetricFamily": ("summary", 4, "labels"),
    "InfoMetricFamily": ("info", 3, "labels"),
    "StateSetMetricFamily": ("enum", 3, "labels"),
    "UnknownMetricFamily": ("unknown", 3, "labels"),
}
USE_METHODS = frozenset({"labels", "remove", "add_metric"})
# OpenTelemetry: meter.create_*(name, ...) -> kind; instrument.add/record/set(value, attributes) set the attributes.
OTEL_CREATE = {
    "create_counter": "counter",
    "create_up_down_counter": "gauge",
    "create_histogram": "histogram",
    "create_gauge": "gauge",
}
OTEL_METHODS = frozenset({"add", "record", "set"})
# The OpenTelemetry SDK's default explicit bucket boundaries (0, 5, 10, … 10000): 15 bounds, 16 buckets.
OTEL_DEFAULT_BUCKETS = 16
PROMETHEUS_DEFAULT_BUCKETS = 15  # Histogram.DEFAULT_BUCKETS: 14 bounds and +Inf
# Calls that build bucket bounds: (name, the argument that counts them as (position, keyword)).
BUCKET_CALLS: dict[str, tuple[int, str]] = {
    "exponential_buckets": (2, "count"),
    "linear_buckets": (2, "count"),
    "exponential_buckets_range": (2, "count"),
}
# Words that say a file uses prometheus_client's multiprocess mode.
MULTIPROCESS_WORDS = (
    "MultiProcessCollector",
    "mark_process_dead",
    "PROMETHEUS_MULTIPROC_DIR",
    "prometheus_multiproc_dir",
)

# Calls whose result differs on every call, process or machine.
UNBOUNDED_CALLS: dict[str, str] = {
    "uuid.uuid1": "a new uuid on every call",
    "uuid.uuid4": "a new uuid on every call",
    "time.time": "the current time",
    "time.time_ns": "the current time",
    "time.monotonic": "a clock reading",
    "time.perf_counter": "a clock reading",
    "time.ctime": "the current time",
    "time.strftime": "the current time",
    "datetime.datetime.now": "the current time",
    "datetime.datetime.utcnow": "the current time",
    "datetime.datetime.today": "the current date",
    "datetime.date.today": "the current date",
    "os.getpid": "the process id",
    "os.getppid": "the parent process id",
    "threading.get_ident": "the thread id",
    "threading.get_native_id": "the thread id",
    "socket.gethostname": "the hostname, new for every pod",
    "socket.getfqdn": "the hostname, new for every pod",
    "platform.node": "the hostname, new for every pod",
    "os.uname": "the hostname, new for every pod",
    "id": "an object address",
    "hash": "a hash of a runtime value",
}
UNBOUNDED_MODULES = {"random": "a random number", "secrets": "a random token"}
HOST_ENV = frozenset({"HOSTNAME", "HOST", "POD_NAME", "POD_IP", "NODE_NAME", "MY_POD_NAME", "CONTAINER_ID"})
EXCEPTION_CALLS = frozenset({"traceback.format_exc", "traceback.format_exception", "traceback.format_exception_only"})
BOUNDED_CALLS = frozenset({"type", "bool", "isinstance", "issubclass", "len", "callable"})
STRING_METHODS = frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "title", "casefold", "capitalize"})

REQUEST_ROOTS = frozenset({"request", "req", "http_request", "scope", "environ", "flask_request"})
# Parts of a request that are raw client input, one value per URL, id, client or header.
REQUEST_PARTS = frozenset(
    {
        "path", "url", "full_path", "path_info", "raw_path", "query_string", "query_params", "query", "args",
        "GET", "POST", "headers", "META", "body", "json", "form", "files", "values", "data", "content", "text",
        "client", "remote", "remote_addr", "access_route", "host", "get_host", "cookies", "user_agent", "base_url",
        "rel_url", "path_params", "get_full_path", "build_absolute_uri", "get_json", "uri",
        "[path]", "[raw_path]", "[query_string]", "[headers]", "[client]", "[PATH_INFO]", "[QUERY_STRING]",
        "[REMOTE_ADDR]", "[HTTP_HOST]", "[REQUEST_URI]", "[RAW_URI]", "[HTTP_USER_AGENT]", "[HTTP_X_FORWARDED_FOR]",
    }
)  # fmt: skip
# Parts of a request, or names, that carry the route template or another small set.
ROUTE_WORDS = frozenset(
    {
        "method", "url_rule", "rule", "resolver_match", "route", "endpoint", "url_name", "view_name", "match_info",
        "scheme", "template", "route_name", "[route]", "[method]", "[type]", "[REQUEST_METHOD]", "[endpoint]",
    }
)  # fmt: skip
BOUNDED_ATTRS = frozenset(
    {"status_code", "status", "status_int", "code", "errno", "method", "__name__", "__qualname__", "kind", "level"}
)
# Plain names (parameters, locals) that hold a status code or another small set, like the attributes above.
BOUNDED_NAMES = BOUNDED_ATTRS | {
    "response_code", "response_status", "http_status", "http_code", "returncode", "exit_code",
}  # fmt: skip
EXCEPTION_ATTRS = frozenset({"args", "message", "msg", "strerror", "detail", "reason", "description", "text"})

FRAMEWORKS = ("fastapi", "starlette", "litestar", "flask", "quart", "django", "aiohttp", "sanic", "falcon", "tornado")

_RANK = {Kind.BOUNDED: 0, Kind.UNKNOWN: 1, Kind.UNBOUNDED: 2, Kind.REQUEST: 3, Kind.EXCEPTION: 4}


def worst(values: Iterable[Value]) -> Value:
    out = BOUNDED
    for v in values:
        if _RANK[v.kind] > _RANK[out.kind]:
            out = v
    return out


def module_name(path: str) -> tuple[str, bool]:
    """The dotted module of a repository-relative path (a leading ``src/`` dropped), and whether it is a package."""
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if len(parts) > 1 and parts[0] in ("src", "lib"):
        parts = parts[1:]
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def absolute(name: str, module: str, is_package: bool) -> str:
    """Resolve a relative qualified name (``.metrics.REQUESTS``) against the module it is written in."""
    if not name.startswith("."):
        return name
    dots = len(name) - len(name.lstrip("."))
    package = module.split(".") if is_package else module.split(".")[:-1]
    keep = len(package) - (dots - 1)
    base = package[: max(keep, 0)]
    rest = name[dots:]
    return ".".join([*base, rest] if rest else base)


def analyze_source(path: str, source: str | bytes, wrappers: Sequence[MetricWrapper] = ()) -> FileFacts:
    """The facts of one file; a file that does not parse gives facts with ``error`` set, never an exception.
    ``wrappers`` are the project's own metric factories (``Config.wrappers``)."""
    module, is_package = module_name(path)
    try:
        text = source.decode("utf-8") if isinstance(source, bytes) else source
    except UnicodeDecodeError as exc:
        return FileFacts(path, module, error=f"it is not UTF-8: {exc.reason}")
    # prune() keeps only code that mentions prometheus_client's words; a file that calls a wrapper is parsed whole
    wrapped = any(w.call.rsplit(".", 1)[-1].strip("*?") in text for w in wrappers)
    tree_of_ast, too_deep = python_tree(text)
    if too_deep is not None:
        return FileFacts(path, module, error=too_deep)
    parsed = text if wrapped else prune(text, tree_of_ast)
    try:
        tree = cst.parse_module(parsed)
    except (cst.ParserSyntaxError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return FileFacts(path, module, error=f"libcst cannot parse it: {first}")
    recognizer = Recognizer(
        path, module, is_package, [line.rstrip("\r\n") for line in source_lines(text)], tuple(wrappers)
    )
    recognizer.parsed = parsed
    try:
        recognizer.run(MetadataWrapper(tree, unsafe_skip_copy=True))
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


def _fold_str(expr: cst.BaseExpression, constants: dict[str, object]) -> str | None:
    if isinstance(expr, cst.SimpleString):
        try:
            value = expr.evaluated_value
        except (SyntaxError, ValueError):  # '\N{NO SUCH NAME}': libcst parses it, Python cannot evaluate it
            return None
        return value if isinstance(value, str) else None
    if isinstance(expr, cst.ConcatenatedString):
        left, right = _fold_str(expr.left, constants), _fold_str(expr.right, constants)
        return None if left is None or right is None else left + right
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        left, right = _fold_str(expr.left, constants), _fold_str(expr.right, constants)
        return None if left is None or right is None else left + right
    if isinstance(expr, cst.FormattedString):
        out = []
        for part in expr.parts:
            if isinstance(part, cst.FormattedStringText):
                out.append(part.value)
            elif isinstance(part, cst.FormattedStringExpression) and part.format_spec is None:
                inner = _fold_str(part.expression, constants)
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


def _fold_names(
    expr: cst.BaseExpression, constants: dict[str, object], lookup: Lookup | None = None, depth: int = 0
) -> tuple[str, ...] | None:
    """A label list folded to its names: literals, the module's constants, ``+``, ``list()``/``tuple()``, ``*``
    spreads, and with ``lookup`` the expression an attribute or local name is bound to (``self._labels``)."""
    if depth > 6:
        return None

    def fold(e: cst.BaseExpression) -> tuple[str, ...] | None:
        return _fold_names(e, constants, lookup, depth + 1)

    if isinstance(expr, cst.List | cst.Tuple):
        out: list[str] = []
        for el in expr.elements:
            if isinstance(el, cst.StarredElement):
                spread = fold(el.value)
                if spread is None:
                    return None
                out.extend(spread)
                continue
            folded = _fold_str(el.value, constants)
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


def _bucket_count(bounds: int, last: cst.BaseExpression | None) -> int:
    """prometheus_client appends +Inf unless the last bound already is infinite."""
    if last is not None and _is_inf(last):
        return bounds
    return bounds + 1


def _is_inf(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Name):
        return expr.value in ("INF", "inf", "INFINITY")
    if isinstance(expr, cst.Attribute):
        return expr.attr.value in ("inf", "INF", "infinity")
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "float" and expr.args:
        text = _fold_str(expr.args[0].value, {})
        return text is not None and text.strip().lstrip("+").lower() in ("inf", "infinity")
    return False


def _int_literal(expr: cst.BaseExpression) -> int | None:
    if isinstance(expr, cst.Integer):
        try:
            value = expr.evaluated_value
        except (SyntaxError, ValueError):  # more digits than int() converts (sys.set_int_max_str_digits)
            return None
        return value if isinstance(value, int) else None
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = _int_literal(expr.expression)
        return None if inner is None else -inner
    return None


def _range_length(call: cst.BaseExpression) -> int | None:
    """The length of ``range(...)`` with literal arguments."""
    if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value == "range"):
        return None
    args = [_int_literal(a.value) for a in call.args]
    if not args or len(args) > 3 or any(a is None for a in args) or any(a.keyword for a in call.args):
        return None
    numbers = [a for a in args if a is not None]
    start, stop, step = (0, numbers[0], 1) if len(numbers) == 1 else (numbers[0], numbers[1], 1)
    if len(numbers) == 3:
        step = numbers[2]
    if step == 0:
        return None
    return max(0, math.ceil((stop - start) / step))


def _module_constants(tree: cst.Module) -> dict[str, object]:
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
            folded: object = _fold_str(value, constants)
            if folded is None:
                folded = _fold_names(value, constants)
            if folded is None and isinstance(value, cst.Dict | cst.Set):
                folded = "<collection>"
            if folded is not None:
                constants[target.value] = folded
    return constants


def _arg(call: cst.Call, index: int, keyword: str) -> cst.BaseExpression | None:
    for a in call.args:
        if a.keyword is not None and a.keyword.value == keyword:
            return a.value
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return positional[index].value if index < len(positional) else None


def _ref(call: cst.Call, ref: ArgRef) -> cst.BaseExpression | None:
    """The argument a wrapper's ``(position, keyword)`` points at."""
    position, keyword = ref
    return _arg(call, 10_000 if position is None else position, keyword or "")


def _node_types(cls: type) -> set[str]:
    """The names of ``cls`` and of every class under it: every kind of node libcst makes."""
    out = {cls.__name__}
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        out |= _node_types(sub)
    return out


_NODE_TYPES = sorted(_node_types(cst.CSTNode))
_EVENTS = (cst.Module, cst.Import, cst.ImportFrom, cst.Call, cst.Comparison)


class _Walk(BatchableMetadataProvider[object]):
    """Records, in the walk libcst's ``ExpressionContextProvider`` makes anyway, every node's parent and, in the
    order a visitor meets them, the module, imports and calls: the ``Recognizer`` replays them instead of walking
    the tree once more. And the names compared with ``in`` or ``not in`` in each function (and lambda) and in the
    module, not counting the functions nested in it (those of its lambdas count). All three are the metadata of
    the module."""

    def __init__(self, cache: object = None) -> None:
        super().__init__(cache)
        self.parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self.events: list[cst.CSTNode] = []
        self.path: list[cst.CSTNode] = []
        self.guards: dict[cst.CSTNode, set[str]] = {}

    def get_visitors(self) -> Mapping[str, Callable[[cst.CSTNode], None]]:
        methods: dict[str, Callable[[cst.CSTNode], None]] = {}
        for name in _NODE_TYPES:
            methods[f"visit_{name}"] = self.enter
            methods[f"leave_{name}"] = self.leave
        return methods

    def enter(self, node: cst.CSTNode) -> None:
        path = self.path
        if path:
            self.parents[node] = path[-1]
        path.append(node)
        if isinstance(node, _EVENTS):
            if not isinstance(node, cst.Comparison):
                self.events.append(node)
            elif isinstance(node.left, cst.Name) and any(
                isinstance(t.operator, cst.In | cst.NotIn) for t in node.comparisons
            ):
                self.guard(node.left.value)

    def guard(self, name: str) -> None:
        """``name`` is compared in the lambdas around the node being entered, up to the function around it, and
        in that function, or in the module when no function is around it."""
        for ancestor in reversed(self.path[:-1]):
            if isinstance(ancestor, cst.Lambda | cst.FunctionDef):
                self.guards.setdefault(ancestor, set()).add(name)
                if isinstance(ancestor, cst.FunctionDef):
                    return
        self.guards.setdefault(self.path[0], set()).add(name)

    def leave(self, node: cst.CSTNode) -> None:
        self.path.pop()
        if not self.path:
            self.set_metadata(node, (self.events, self.parents, self.guards))


class Recognizer(cst.CSTVisitor):
    # No ParentNodeProvider: it walks the whole tree once more (a sixth of the time on a large file); parents are
    # recorded by ``_Walk`` in the walk of the scope's own dependency, and so are the nodes this class visits
    # (``run``). No QualifiedNameProvider either: it walks the tree to attach to every node what ``qualified`` asks
    # the node's scope for, for the few nodes that need it. Positions come from ``ast``'s calls, paired with
    # libcst's in one pass (``positions.py``); ``PositionProvider`` (a whole code generation) only as a fallback.
    METADATA_DEPENDENCIES = (ScopeProvider, _Walk)

    def __init__(
        self, path: str, module: str, is_package: bool, lines: Sequence[str], wrappers: tuple[MetricWrapper, ...] = ()
    ) -> None:
        super().__init__()
        self.path = path
        self.module = module
        self.is_package = is_package
        self.lines = lines
        self.wrappers = wrappers
        self.definitions: list[Definition] = []
        self.uses: list[Use] = []
        self.framework: str | None = None
        self.otel = False  # the file imports opentelemetry
        self.multiprocess = False  # the file imports prometheus_client.multiprocess
        self.constants: dict[str, object] = {}
        self._tree: cst.Module | None = None
        self._guards: dict[cst.CSTNode, set[str]] = {}  # the names ``in`` bounds in each function and the module
        self._parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self._positions: CallPositions | None = None  # set by run()
        self._class_attributes: dict[cst.ClassDef, dict[str, list[cst.BaseExpression]]] = {}
        self.parsed = ""  # the text libcst parsed, which is the tree's code exactly

    # ------------------------------------------------------------------------------------------ helpers

    def visit_Module(self, node: cst.Module) -> None:
        self._tree = node
        self.constants = _module_constants(node)

    def code(self, node: cst.CSTNode) -> str:
        assert self._tree is not None
        return " ".join(self._tree.code_for_node(node).split())

    def position(self, node: cst.Call) -> CodePosition:
        """Where the call starts (``positions.py``: linear in the file, public API only)."""
        assert self._positions is not None
        return self._positions.start(node)

    def site(self, node: cst.Call) -> Site:
        pos = self.position(node)
        text = self.lines[pos.line - 1].strip() if 0 < pos.line <= len(self.lines) else ""
        return Site(self.path, pos.line, pos.column + 1, text)

    def qualified_names(self, node: cst.CSTNode) -> Collection[QualifiedName]:
        """What ``QualifiedNameProvider`` gives ``node``, asked of its scope only when needed."""
        scope = self.get_metadata(ScopeProvider, node, None)
        return set() if scope is None else scope.get_qualified_names_for(node)

    def qualified(self, node: cst.CSTNode) -> set[str]:
        names = self.qualified_names(node)
        out = set()
        for q in names:
            if q.source is QualifiedNameSource.IMPORT:
                out.add(absolute(q.name, self.module, self.is_package))
            elif q.source is QualifiedNameSource.BUILTIN:
                out.add(q.name.removeprefix("builtins."))
            else:
                out.add(q.name)
        return out

    def run(self, wrapper: MetadataWrapper) -> None:
        """Visit, in the order of a walk of the tree, the nodes this class has ``visit_`` methods for."""
        with self.resolve(wrapper):
            events, parents, guards = cast(
                tuple[
                    list[cst.CSTNode],
                    dict[cst.CSTNode, cst.CSTNode],
                    dict[cst.CSTNode, set[str]],
                ],
                self.get_metadata(_Walk, wrapper.module),
            )
            self._parents = parents
            self._guards = guards
            self._positions = CallPositions(self.parsed, [n for n in events if isinstance(n, cst.Call)], wrapper)
            for node in events:
                if isinstance(node, cst.Call):
                    self.visit_Call(node)
                elif isinstance(node, cst.Import):
                    self.visit_Import(node)
                elif isinstance(node, cst.ImportFrom):
                    self.visit_ImportFrom(node)
                elif isinstance(node, cst.Module):
                    self.visit_Module(node)

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The node's parent, as ``_Walk`` recorded it."""
        return self._parents.get(node)

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
            name_expr = _arg(node, 0, "name")
            name = _fold_str(name_expr, self.constants) if name_expr is not None else None
            kind = OTEL_CREATE[func.attr.value]
            dynamic = self.dynamic_name(name_expr) if name is None and name_expr is not None else None
            buckets = None
            if kind == "histogram":
                advisory = _arg(node, 99, "explicit_bucket_boundaries_advisory")
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
            attributes = _arg(node, 1, "attributes")
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
        name_expr = _arg(call, 0, "name")
        name = _fold_str(name_expr, self.constants) if name_expr is not None else None
        if name is not None and not family:
            for index, keyword in ((4, "subsystem"), (3, "namespace")):
                expr = _arg(call, index, keyword)
                part = "" if expr is None else _fold_str(expr, self.constants)
                name = None if part is None or name is None else (f"{part}_{name}" if part else name)
        labels_expr = _arg(call, label_index, label_keyword)
        labels: tuple[str, ...] | None = ()
        if labels_expr is not None:
            labels = self.fold_labels(labels_expr)
        mode_expr = _arg(call, 99, "multiprocess_mode")
        mode = _fold_str(mode_expr, self.constants) if mode_expr is not None else None
        if mode_expr is not None and mode is None:
            mode = "?"  # given but not a constant (a parameter): not "missing", and no mode to judge
        dynamic = self.dynamic_name(name_expr) if name is None and name_expr is not None else None
        buckets = None
        if kind == "histogram" and not family:
            buckets = self.histogram_buckets(_arg(call, 99, "buckets"))
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
        name_expr = _ref(call, wrapper.name)
        name = _fold_str(name_expr, self.constants) if name_expr is not None else None
        labels_expr = _ref(call, wrapper.labels)
        labels = () if labels_expr is None else self.fold_labels(labels_expr)
        dynamic = self.dynamic_name(name_expr) if name is None and name_expr is not None else None
        buckets = None  # the factory's own default buckets are unknown
        if wrapper.kind == "histogram" and (buckets_expr := _ref(call, wrapper.buckets)) is not None:
            buckets = self.bounds(buckets_expr, with_inf=True)
        return Definition(
            self.binding(call), wrapper.kind, name, labels, self.site(call), dynamic_name=dynamic, buckets=buckets
        )

    # ------------------------------------------------------------------------------------------- labels

    def fold_labels(self, expr: cst.BaseExpression) -> tuple[str, ...] | None:
        """The label names of a definition, followed through what attributes and local names are bound to."""
        return _fold_names(expr, self.constants, self.bound_value)

    def bound_value(self, expr: cst.BaseExpression) -> cst.BaseExpression | None:
        """The one expression ``expr`` is bound to: ``self.x`` / ``cls.x`` / ``Klass.x`` assigned once in the class
        (its body, or ``self.x = …`` in its methods), or a local name assigned once; None when unknown."""
        if isinstance(expr, cst.Name):
            assigned = [a for a in self._assignments(expr) if not isinstance(a.node, cst.Import | cst.ImportFrom)]
            if len(assigned) != 1:
                return None
            parent = self.parent(assigned[0].node)
            if isinstance(parent, cst.AssignTarget):
                parent = self.parent(parent)
            return parent.value if isinstance(parent, cst.Assign | cst.AnnAssign) else None
        if not (isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name)):
            return None
        owner = expr.value.value
        cls: cst.ClassDef | None = None
        if owner in ("self", "cls"):
            cls = self.enclosing_class_node(self.get_metadata(ScopeProvider, expr, None))
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

    @staticmethod
    def enclosing_class_node(scope: Scope | None) -> cst.ClassDef | None:
        while scope is not None and not isinstance(scope, GlobalScope):
            if isinstance(scope, ClassScope) and isinstance(scope.node, cst.ClassDef):
                return scope.node
            scope = scope.parent
        return None

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
        return _bucket_count(count, last) if with_inf else count

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
            n = _range_length(e.for_in.iter)
            return None if n is None else (n, None)
        if isinstance(e, cst.Call):
            names = self.qualified(e.func) | ({e.func.value} if isinstance(e.func, cst.Name) else set())
            short = {n.rsplit(".", 1)[-1] for n in names}
            if short & {"list", "tuple", "sorted"} and len(e.args) == 1:
                return self._bounds(e.args[0].value, depth + 1)
            for name in short & BUCKET_CALLS.keys():
                index, keyword = BUCKET_CALLS[name]
                n_expr = _arg(e, index, keyword)
                n = _int_literal(n_expr) if n_expr is not None else None
                return None if n is None else (n, None)
            return None
        if isinstance(e, cst.Attribute) and e.attr.value == "DEFAULT_BUCKETS":
            return PROMETHEUS_DEFAULT_BUCKETS, cst.Name("INF")
        if isinstance(e, cst.Name):
            assigned = [a for a in self._assignments(e) if not isinstance(a.node, cst.Import | cst.ImportFrom)]
            if len(assigned) != 1:
                return None
            parent = self.parent(assigned[0].node)
            if isinstance(parent, cst.AssignTarget):
                parent = self.parent(parent)
            if isinstance(parent, cst.Assign | cst.AnnAssign) and parent.value is not None:
                return self._bounds(parent.value, depth + 1)
        return None

    def dict_items(self, expr: cst.BaseExpression) -> tuple[list[tuple[str, Value]], bool] | None:
        """The classified items of a dict literal, or of the one a local name is bound to, and whether that is all
        of them (False when a key does not fold to a string, or ``**`` spreads another mapping into it)."""
        found = self.local_dict(expr)
        if found is None:
            return None
        out: list[tuple[str, Value]] = []
        complete = True
        for el in found.elements:
            key = _fold_str(el.key, self.constants) if isinstance(el, cst.DictElement) else None
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
        scope = self.get_metadata(ScopeProvider, parent, None)
        if isinstance(target, cst.Name):
            return self.scoped_key(scope, target.value)
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self":
            cls = self.enclosing_class(scope)
            return f"{self.module}.{cls}.{target.attr.value}" if cls else ""
        return ""

    def scoped_key(self, scope: Scope | None, name: str) -> str:
        if isinstance(scope, GlobalScope) or scope is None:
            return f"{self.module}.{name}"
        if isinstance(scope, ClassScope) and isinstance(scope.node, cst.ClassDef):
            return f"{self.module}.{scope.node.name.value}.{name}"
        if isinstance(scope, FunctionScope) and isinstance(scope.node, cst.FunctionDef):
            return f"{self.module}.<{scope.node.name.value}>.{name}"
        return f"{self.module}.<local>.{name}"

    @staticmethod
    def enclosing_class(scope: Scope | None) -> str | None:
        while scope is not None and not isinstance(scope, GlobalScope):
            if isinstance(scope, ClassScope) and isinstance(scope.node, cst.ClassDef):
                return scope.node.name.value
            scope = scope.parent
        return None

    # --------------------------------------------------------------------------------------------- uses

    def use(self, call: cst.Call, func: cst.Attribute) -> Use:
        receiver = func.value
        positional: list[Value] = []
        keywords: list[tuple[str, Value]] = []
        star = False
        args = list(call.args)
        if func.attr.value == "add_metric":
            first = args[0].value if args and args[0].keyword is None else _arg(call, 99, "labels")
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
        scope = self.get_metadata(ScopeProvider, receiver, None)
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

    # ----------------------------------------------------------------------------------- classification

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
                key = _fold_str(e.args[0].value, self.constants)
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

    def _assignments(self, e: cst.Name) -> list[Assignment]:
        scope = self.get_metadata(ScopeProvider, e, None)
        if scope is None:
            return []
        return [a for a in scope[e.value] if isinstance(a, Assignment)]

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
        scope = self.get_metadata(ScopeProvider, e, None)
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
                    key = _fold_str(node.slice[0].slice.value, self.constants)
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
