"""Runtime modules never spell a command-line flag in their errors; the CLI adds the flags (issue 12 item 2)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import parapet
from parapet.errors import OptionError
from parapet.web.identity import TrustedProxies
from parapet.web.serve import check_auth
from parapet.web.webhook import Credentials
from parapet_cli.cli._render import FLAGS

FLAG = re.compile(r"(?:^|[\s`(])--[a-z]")
RUNTIME = Path(parapet.__file__).parent


def _docstrings(tree: ast.AST) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def test_no_runtime_string_spells_a_flag() -> None:
    found = []
    for path in sorted(RUNTIME.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            literal = isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
            if literal and FLAG.search(node.value):
                found.append(f"{path.relative_to(RUNTIME)}:{node.lineno}: {node.value[:60]!r}")
    assert not found, "\n".join(found)


def test_runtime_names_the_option_and_the_cli_spells_the_flag() -> None:
    with pytest.raises(OptionError) as raised:
        check_auth(host="0.0.0.0", insecure_local=True, credentials=Credentials())
    exc = raised.value
    assert exc.message.startswith("insecure_local serves without authentication")
    assert "--" not in exc.message and "--" not in (exc.hint or "")
    shown = exc.named(FLAGS)
    assert shown.message == "--insecure-local serves without authentication, so only on 127.0.0.1, not on 0.0.0.0"
    assert shown.hint == "drop --insecure-local and give the webhook a token file (--webhook-token-file)"


def test_every_option_the_runtime_names_has_a_flag() -> None:
    with pytest.raises(OptionError) as raised:
        TrustedProxies.parse([])
    assert raised.value.hint == "e.g. networks 127.0.0.1"
    assert raised.value.named(FLAGS).hint == "e.g. --trusted-proxy 127.0.0.1"
    options = set()
    for path in sorted(RUNTIME.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "options" and isinstance(node.value, ast.Tuple):
                options |= {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
    assert options and options <= set(FLAGS), options - set(FLAGS)
