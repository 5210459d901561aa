"""Blank out the functions and classes of a file that mention no metric, before libcst sees it.

libcst's metadata (scopes, qualified names, parents, positions) walks every node of the tree, blank lines
included, and in an application most functions never touch a metric. ``ast`` parses twenty times faster, so it
finds the top-level functions and classes (and the methods of kept classes) whose text mentions nothing
metric-like. Each of them becomes one string statement spanning exactly its lines (``pass`` when it is one
line): one node for libcst instead of a node per line, and every line number after it stays exact. Whatever
mentions a metric keeps its whole body, closures included; so does a method of a kept class that sets a label
list the kept methods read (``self._labels = ["username"] + …`` in ``__init__``, read by ``collect``).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings

# What keeps a function: a metric's use, or prometheus_client by name. Its classes count under the names this module
# imports them as (``_aliases``): the bare words ``Counter`` or ``Enum`` would also keep collections.Counter and
# enum.Enum code, which the recognizer has no use for (enum members are bounded by their spelling, ``Status.OK``).
_ALWAYS = r"prometheus_client|\.labels\(|\.add_metric\(|\.remove\(|MetricFamily"
# The fields of ast's statements (and except handlers, match cases) that hold statements.
_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")
# Past this depth of ast's tree (real code stays under 40), libcst's parser takes time quadratic in the depth (a
# chain ``1+1+…`` of 2,000 terms: 8 s) and its visitors run out of Python's stack: the file is a PAR000 note.
MAX_DEPTH = 150
# A label list held in an attribute of self (``self._labels``, ``self.labelnames``), and an attribute assigned
# (``self._labels = …``, ``self._labels += …``): a method of a kept class that sets one the kept methods read stays.
_SELF_ATTR = re.compile(r"\bself\.(\w*[Ll]abel\w*)")
_SELF_ASSIGN = re.compile(r"\bself\.(\w+)\s*(?:[-+|]?=)(?!=)")
# Tokens that do not nest the tree: separators and assignments.
_FLAT_OPERATORS = frozenset({",", ":", ";", "=", "->", ":=", "+=", "-=", "*=", "/=", "|=", "&=", "@"})
# CPython's messages for nesting past its own limits (brackets, indentation, blocks).
_TOO_DEEP = ("too many nested parentheses", "too many levels of indentation", "too many statically nested blocks")
# Lines as Python's tokenizer counts them: str.splitlines() would also split at form feeds and other separators.
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def source_lines(source: str) -> list[str]:
    """``source`` split into lines (ends kept) exactly where Python numbers its lines."""
    return _LINES.findall(source)


def _aliases(tree: ast.Module) -> list[str]:
    """Names under which this module refers to prometheus_client or its classes."""
    out: list[str] = []
    # imports are statements, and statements live only in these fields: no walk through every expression
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prometheus_client"):
            out += [a.asname or a.name for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.asname or a.name for a in node.names if a.name.startswith("prometheus_client")]
        for field in _BODIES:
            todo += getattr(node, field, ())
    return out


def _stub(first_line: str, count: int) -> list[str]:
    """``count`` lines holding one statement that does nothing, indented like ``first_line``."""
    indent = first_line[: len(first_line) - len(first_line.lstrip(" \t"))]
    if count == 1:
        return [indent + "pass\n"]
    return [indent + '"""\n', *(["\n"] * (count - 2)), '"""\n']


def python_tree(source: str) -> tuple[ast.Module | None, str | None]:
    """``ast``'s tree of ``source`` (None when ``ast`` cannot read it), and why no analyzer should try either when
    the file nests deeper than Python itself accepts (libcst's parser takes seconds per such file, then its
    visitors run out of stack)."""
    tree, _, too_deep = python_tree_and_calls(source)
    return tree, too_deep


def python_tree_and_calls(source: str) -> tuple[ast.Module | None, list[ast.Call], str | None]:
    """``python_tree``, with every call of the tree (found by the walk that measures its depth, for
    ``positions.py``, which would otherwise parse the text once more)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except SyntaxError as exc:
        message = str(exc.msg)
        if message.startswith(_TOO_DEEP):
            return None, [], f"it nests deeper than Python accepts ({message}, line {exc.lineno})"
        return None, [], _tokens_too_deep(source)  # syntax newer than this Python, or broken: libcst decides
    except (ValueError, MemoryError):
        return None, [], None
    except RecursionError:
        return None, [], "it nests expressions too deeply for the analyzer"
    depth, calls = _depth_and_calls(tree)
    if depth > MAX_DEPTH:
        return None, [], f"it nests {depth} levels deep, past the analyzer's budget of {MAX_DEPTH}"
    return tree, calls, None


def _tokens_too_deep(source: str) -> str | None:
    """For a file ``ast`` cannot read: why libcst should not try either when one statement is deeper (brackets,
    or operators, each of which nests the tree one level) than ``MAX_DEPTH``; None when the tokens say nothing."""
    depth = operators = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.OP:
                if token.string in "([{":
                    depth += 1
                elif token.string in ")]}":
                    depth = max(0, depth - 1)
                elif token.string not in _FLAT_OPERATORS:
                    operators += 1
            elif token.type == tokenize.NAME and token.string in ("and", "or", "not", "if", "lambda"):
                operators += 1
            elif token.type == tokenize.NEWLINE:
                operators = 0
            if depth > MAX_DEPTH or operators > MAX_DEPTH * 4:
                return f"one statement nests past the analyzer's budget of {MAX_DEPTH} levels (line {token.start[0]})"
    except (tokenize.TokenError, SyntaxError, ValueError):
        return None
    return None


def _depth_and_calls(tree: ast.AST) -> tuple[int, list[ast.Call]]:
    """How many levels deep the tree goes, and its calls (iteratively: the tree may be deeper than Python's
    stack). A node without fields (a context such as ``Load``, an operator) is counted where it is met, not
    pushed: a third of a tree's nodes."""
    deepest = 0
    calls: list[ast.Call] = []
    todo: list[tuple[ast.AST, int]] = [(tree, 1)]
    push, pop, call = todo.append, todo.pop, ast.Call
    while todo:
        node, depth = pop()
        if depth > deepest:
            deepest = depth
        if type(node) is call:
            calls.append(node)
        depth += 1
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, ast.AST):
                if value._fields:
                    push((value, depth))
                elif depth > deepest:
                    deepest = depth
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        if item._fields:
                            push((item, depth))
                        elif depth > deepest:
                            deepest = depth
    return deepest, calls


def prune(source: str, tree: ast.Module | None = None) -> str:
    """``source`` with metric-free functions and classes stubbed out, line for line; unchanged if ``ast`` fails.
    ``tree`` is ``python_tree(source)``'s, when the caller has it."""
    return prune_spans(source, tree)[0]


def prune_spans(source: str, tree: ast.Module | None = None) -> tuple[str, list[tuple[int, int]]]:
    """``prune``, and the lines it stubbed out: (first, last) 1-based, in order."""
    if tree is None:
        tree, _ = python_tree(source)
    if tree is None:
        return source, []
    names = [re.escape(n.split(".")[0]) for n in _aliases(tree)]
    otel = r"|create_\w+\(|\.add\(|\.record\(|\.set\(" if "opentelemetry" in source else ""
    trigger = re.compile(_ALWAYS + otel + "".join(rf"|\b{n}\b" for n in names))
    lines = source_lines(source)
    stubs: dict[int, tuple[int, list[str]]] = {}  # 0-based first line -> (last line, replacement lines)

    def visit(body: list[ast.stmt], in_class: bool = False) -> None:
        spans: list[tuple[ast.stmt, int, int, str, bool]] = []
        for stmt in body:
            if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            first = min([stmt.lineno, *(d.lineno for d in stmt.decorator_list)]) - 1
            last = (stmt.end_lineno or stmt.lineno) - 1
            if last < len(lines):
                text = "".join(lines[first : last + 1])
                spans.append((stmt, first, last, text, trigger.search(text) is not None))
        # in a kept class, a method that sets a label list the kept methods read (self._labels = [...]) stays too
        kept = "".join(text for _, _, _, text, hit in spans if hit) if in_class else ""
        read = set(_SELF_ATTR.findall(kept))
        for stmt, first, last, text, hit in spans:
            if hit:
                if isinstance(stmt, ast.ClassDef):
                    visit(stmt.body, in_class=True)
                continue
            if read and any(m.group(1) in read for m in _SELF_ASSIGN.finditer(text)):
                continue
            if lines[last].rstrip("\r\n").rstrip().endswith("\\"):
                continue  # the statement after it continues this line: keep the text as it is
            stubs[first] = (last, _stub(lines[first], last - first + 1))

    visit(tree.body)
    if not stubs:
        return source, []
    out: list[str] = []
    i = 0
    while i < len(lines):
        if i in stubs:
            last, replacement = stubs[i]
            out += replacement
            i = last + 1
        else:
            out.append(lines[i])
            i += 1
    return "".join(out), sorted((first + 1, last + 1) for first, (last, _) in stubs.items())
