"""Alembic's ``env.py``: keep autogenerate away from the evidence spine's tables.

Every ``context.configure(...)`` call (offline and online) gets ``include_name=include_name`` from
``parapet.evidence.alembic``; a call that already passes its own ``include_name=f`` gets
``include_name=parapet_include_name(f)``, which consults the host's filter for everything else. An
``env.py`` that already imports from ``parapet.evidence.alembic`` is left alone, and one without a
``context.configure`` call gets the lines to add by hand.
"""

from __future__ import annotations

import libcst as cst

from parapet_cli.codemods import Wiring, calls_named, dotted, parse, with_imports

FILTER_MODULE = "parapet.evidence.alembic"
WHAT = "Alembic autogenerate filter"


def _line_start(call: cst.Call) -> cst.ParenthesizedWhitespace | None:
    """The whitespace that starts an argument's line, when the call puts one argument per line."""
    if isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace):
        return call.whitespace_before_args
    for arg in call.args[:-1]:
        if isinstance(arg.comma, cst.Comma) and isinstance(arg.comma.whitespace_after, cst.ParenthesizedWhitespace):
            return arg.comma.whitespace_after
    return None


def _add_keyword(call: cst.Call, keyword: str, value: cst.BaseExpression) -> cst.Call:
    """Append ``keyword=value`` in the call's own style: one line, or one argument per line (the last
    argument keeps its line and its comment; a trailing comma stays trailing)."""
    args = list(call.args)
    tight = cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))
    new = cst.Arg(value=value, keyword=cst.Name(keyword), equal=tight)
    if not args:
        return call.with_changes(args=[new])
    last = args[-1]
    trailing = isinstance(last.comma, cst.Comma)
    closing = last.comma.whitespace_after if isinstance(last.comma, cst.Comma) else last.whitespace_after_arg
    start = _line_start(call)
    if isinstance(closing, cst.ParenthesizedWhitespace) and start is not None:
        kept = closing.with_changes(indent=start.indent, last_line=start.last_line)
        comma = (last.comma if isinstance(last.comma, cst.Comma) else cst.Comma()).with_changes(whitespace_after=kept)
        args[-1] = last.with_changes(comma=comma, whitespace_after_arg=cst.SimpleWhitespace(""))
        end = closing.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[])
        if trailing:
            new = new.with_changes(comma=cst.Comma(whitespace_after=end))
        else:
            new = new.with_changes(whitespace_after_arg=end)
    else:
        separator = cst.Comma(whitespace_after=start or cst.SimpleWhitespace(" "))
        if trailing:
            new = new.with_changes(comma=last.comma)
        else:
            new = new.with_changes(whitespace_after_arg=last.whitespace_after_arg)
        args[-1] = last.with_changes(comma=separator, whitespace_after_arg=cst.SimpleWhitespace(""))
    return call.with_changes(args=[*args, new])


class _Configure(cst.CSTTransformer):
    def __init__(self, local_filter: bool) -> None:
        self.local_filter = local_filter  # the host defines its own ``include_name``
        self.imports: set[str] = set()
        self.found = 0

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if dotted(updated.func) != "context.configure":
            return updated
        self.found += 1
        for i, arg in enumerate(updated.args):
            if arg.keyword is not None and arg.keyword.value == "include_name":
                self.imports.add("parapet_include_name")
                wrapped = cst.Call(cst.Name("parapet_include_name"), [cst.Arg(arg.value)])
                args = list(updated.args)
                args[i] = arg.with_changes(value=wrapped)
                return updated.with_changes(args=args)
        if self.local_filter:
            self.imports.add("parapet_include_name")
            return _add_keyword(updated, "include_name", cst.parse_expression("parapet_include_name()"))
        self.imports.add("include_name")
        return _add_keyword(updated, "include_name", cst.Name("include_name"))


def _defines(module: cst.Module, name: str) -> bool:
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            return True
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign) and any(dotted(t.target) == name for t in small.targets):
                    return True
    return False


def wire_env(source: str, filename: str) -> Wiring:
    module = parse(source, filename)
    if FILTER_MODULE in source:
        return Wiring(source, changed=False, already=True, what=WHAT)
    if not calls_named(module, {"context.configure"}):
        manual = (f"from {FILTER_MODULE} import include_name", "context.configure(..., include_name=include_name)")
        return Wiring(source, changed=False, already=False, manual=manual, what=WHAT)
    editor = _Configure(local_filter=_defines(module, "include_name"))
    updated = module.visit(editor)
    new = with_imports(updated, [(FILTER_MODULE, name) for name in sorted(editor.imports)]).code
    return Wiring(new, changed=new != source, already=False, what=WHAT)
