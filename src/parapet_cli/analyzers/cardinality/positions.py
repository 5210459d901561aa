"""Where each call of a libcst tree starts, in time linear in the file.

    CallPositions(text, calls, wrapper).start(call) -> CodePosition   1-based line, 0-based column (characters)

libcst's ``PositionProvider`` generates the code of the whole module to learn positions, which costs about as
much as the parse. Every site the recognizer reports is a call (a metric's definition or a ``.labels()``-style
use), and ``ast`` knows where each call starts for a fraction of that cost. A pre-order walk of a tree whose
children are visited in source order meets nodes sorted by where they start, an outer node before an inner one
that starts at the same place (``f(x)(y)`` before ``f(x)``); libcst walks in source order, so the n-th call libcst
meets is the n-th call of ``ast``'s, sorted by (start, longest first). Both place a call where its first token
is, not at a parenthesis around it; ``ast`` counts columns in UTF-8 bytes, libcst in characters, so columns are
converted on lines that are not ASCII.

Each pairing is checked as it is used: the function called must be the same name or attribute in both trees.
When ``ast`` cannot parse the text (syntax newer than this Python), finds another number of calls, or a check
fails, the positions come from one ``PositionProvider`` resolution of the module instead (also linear).
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Mapping, Sequence

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from parapet_cli.analyzers.cardinality.prune import source_lines


def _ast_calls(text: str, calls: list[ast.Call] | None = None) -> list[ast.Call] | None:
    """Every call of ``text`` in the order libcst meets them, or None when ``ast`` cannot parse it; ``calls``:
    ``ast``'s calls of ``text``, when the caller has them (nothing is parsed then)."""
    if calls is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    calls.sort(key=lambda c: (c.lineno, c.col_offset, -(c.end_lineno or 0), -(c.end_col_offset or 0)))
    return calls


def _same_callee(ours: cst.BaseExpression, theirs: ast.expr) -> bool:
    if isinstance(ours, cst.Name):
        return isinstance(theirs, ast.Name) and theirs.id == ours.value
    if isinstance(ours, cst.Attribute):
        return isinstance(theirs, ast.Attribute) and theirs.attr == ours.attr.value
    return not isinstance(theirs, ast.Name | ast.Attribute)


class CallPositions:
    """The start of every call of one parsed module; ``calls`` are libcst's calls in the order of a walk, and
    ``ast_calls`` ``ast``'s calls of the same text, when the caller has them."""

    def __init__(
        self,
        text: str,
        calls: Sequence[cst.Call],
        wrapper: MetadataWrapper,
        ast_calls: list[ast.Call] | None = None,
    ) -> None:
        self._text = text
        self._given = ast_calls
        self._order = {call: i for i, call in enumerate(calls)}
        self._count = len(calls)
        self._wrapper = wrapper
        self._theirs: list[ast.Call] | None = None
        self._lines: list[str] | None = None
        self._resolved: Mapping[cst.CSTNode, CodeRange] | None = None
        self._asked = False

    def start(self, call: cst.Call) -> CodePosition:
        if self._resolved is None:
            found = self._from_ast(call)
            if found is not None:
                return found
            self._resolved = self._wrapper.resolve(PositionProvider)
        return self._resolved[call].start

    def _from_ast(self, call: cst.Call) -> CodePosition | None:
        if not self._asked:
            self._asked = True
            theirs = _ast_calls(self._text, self._given)
            self._theirs = theirs if theirs is not None and len(theirs) == self._count else None
        index = self._order.get(call)
        if self._theirs is None or index is None:
            return None
        node = self._theirs[index]
        if not _same_callee(call.func, node.func):
            self._theirs = None
            return None
        if self._lines is None:
            self._lines = source_lines(self._text)
        column = node.col_offset
        line = self._lines[node.lineno - 1] if node.lineno <= len(self._lines) else ""
        if not line.isascii():
            column = len(line.encode("utf-8")[:column].decode("utf-8", errors="replace"))
        return CodePosition(node.lineno, column)
