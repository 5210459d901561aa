"""Alembic's ``env.py``: keep autogenerate away from the evidence spine's tables.

Every ``context.configure(...)`` call (offline and online) gets ``include_name=include_name`` from
``parapet.evidence.alembic``; a call that already passes its own ``include_name=f`` gets
``include_name=parapet_include_name(f)``, which consults the host's filter for everything else. An
``env.py`` that already imports from ``parapet.evidence.alembic`` is left alone, and one without a
``context.configure`` call gets the lines to add by hand.
"""

from __future__ import annotations

import libcst as cst

from parapet_cli.codemods import DEFAULT_STYLE, Style, Wiring, calls_named, dotted, parse, with_imports

FILTER_MODULE = "parapet.evidence.alembic"
WHAT = "Alembic autogenerate filter"


def _line_start(call: cst.Call) -> cst.ParenthesizedWhitespace | None:
    """The whitespace that starts an argument's line, when the call puts one argument per line."""
    for arg in call.args[:-1]:
        if isinstance(arg.comma, cst.Comma) and isinstance(arg.comma.whitespace_after, cst.ParenthesizedWhitespace):
            return arg.comma.whitespace_after
    if len(call.args) == 1 and isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace):
        return call.whitespace_before_args
    return None


def _new_line(extra: str) -> cst.ParenthesizedWhitespace:
    return cst.ParenthesizedWhitespace(indent=True, last_line=cst.SimpleWhitespace(extra))


def _relayout(call: cst.Call, mode: str, indent: str) -> cst.Call:
    """All arguments on one line inside the parentheses (``hug``), or one per line with a trailing comma
    (``explode``): what black and ruff format write when a call no longer fits on its line."""
    args = [arg.with_changes(whitespace_after_arg=cst.SimpleWhitespace("")) for arg in call.args]
    if mode == "hug":
        args = [arg.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))) for arg in args[:-1]] + [
            args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=_new_line(""))
        ]
    else:
        args = [arg.with_changes(comma=cst.Comma(whitespace_after=_new_line(indent))) for arg in args[:-1]] + [
            args[-1].with_changes(comma=cst.Comma(whitespace_after=_new_line("")))
        ]
    return call.with_changes(whitespace_before_args=_new_line(indent), args=args)


def _add_keyword(call: cst.Call, keyword: str, value: cst.BaseExpression) -> cst.Call:
    """Append ``keyword=value`` in the call's own layout: on the arguments' line when they share one (on
    the call's line, or on their own line inside the parentheses), else on a line of its own (the last
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
        separator = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        if trailing:
            new = new.with_changes(comma=last.comma)
        else:
            new = new.with_changes(whitespace_after_arg=last.whitespace_after_arg)
        args[-1] = last.with_changes(comma=separator, whitespace_after_arg=cst.SimpleWhitespace(""))
    return call.with_changes(args=[*args, new])


_MODES = ("keep", "hug", "explode")


class _Configure(cst.CSTTransformer):
    def __init__(self, local_filter: bool, modes: list[str], indent: str) -> None:
        self.local_filter = local_filter  # the host defines its own ``include_name``
        self.modes = modes  # per added keyword, in source order: keep the layout, or re-lay the call
        self.indent = indent
        self.imports: set[str] = set()
        self.found = 0
        self.added = 0

    def _add(self, call: cst.Call, value: cst.BaseExpression) -> cst.Call:
        mode = self.modes[self.added] if self.added < len(self.modes) else "keep"
        self.added += 1
        new = _add_keyword(call, "include_name", value)
        return new if mode == "keep" else _relayout(new, mode, self.indent)

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
            return self._add(updated, cst.parse_expression("parapet_include_name()"))
        self.imports.add("include_name")
        return self._add(updated, cst.Name("include_name"))


def _defines(module: cst.Module, name: str) -> bool:
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            return True
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign) and any(dotted(t.target) == name for t in small.targets):
                    return True
    return False


def wire_env(source: str, filename: str, style: Style = DEFAULT_STYLE) -> Wiring:
    module = parse(source, filename)
    if FILTER_MODULE in source:
        return Wiring(source, changed=False, already=True, what=WHAT)
    if not calls_named(module, {"context.configure"}):
        manual = (f"from {FILTER_MODULE} import include_name", "context.configure(..., include_name=include_name)")
        return Wiring(source, changed=False, already=False, manual=manual, what=WHAT)
    local = _defines(module, "include_name")
    added = "include_name=parapet_include_name()" if local else "include_name=include_name"
    modes: list[str] = []
    for _ in range(len(_MODES)):  # a call the keyword pushes past the host's line length is re-laid
        editor = _Configure(local, modes, module.default_indent)
        updated = module.visit(editor)
        lines = [line for line in updated.code.splitlines() if added in line]
        modes = [modes[i] if i < len(modes) else "keep" for i in range(editor.added)]
        long = [i for i, line in enumerate(lines[: len(modes)]) if len(line) > style.line_length]
        if not long:
            break
        for i in long:
            modes[i] = _MODES[min(_MODES.index(modes[i]) + 1, len(_MODES) - 1)]
    new = with_imports(updated, [(FILTER_MODULE, name) for name in sorted(editor.imports)], style).code
    return Wiring(new, changed=new != source, already=False, what=WHAT)
