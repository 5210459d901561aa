"""The one trivial Fixit rule that ``benchmarks/cardinality.py`` times real Fixit with (``fixit.toml`` beside it
enables only this rule). It is Fixit's cheapest useful shape: one visitor method on ``Call``, no metadata beyond
what every Fixit rule gets (positions), so Fixit's time is its engine's, not a rule's."""

from __future__ import annotations

from typing import ClassVar

import libcst as cst
from fixit import Invalid, LintRule, Valid


class NoBreakpoint(LintRule):
    """A ``breakpoint()`` left in the code stops a server at its first request."""

    MESSAGE = "remove the breakpoint() call"
    VALID: ClassVar[list[Valid]] = [Valid("print('ready')"), Valid("debugger.breakpoint()")]
    INVALID: ClassVar[list[Invalid]] = [Invalid("breakpoint()"), Invalid("if x:\n    breakpoint()\n")]

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "breakpoint":
            self.report(node)
