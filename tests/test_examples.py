"""The example service's generated files are committed and must stay in step with its spec."""

from __future__ import annotations

import subprocess

from tests.conftest import ROOT, run_promtool

EXAMPLE = ROOT / "examples" / "shop"


def test_example_rules_are_current(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)  # the command as the message below gives it: the project root is the spec's directory
    result = cli("gen", "slo", "--spec", "examples/shop/parapet.yaml", "--check")
    assert result.exit_code == 0, result.output + "\nregenerate: parapet gen slo --spec examples/shop/parapet.yaml"


def test_example_rules_pass_promtool(promtool: str) -> None:
    rules = EXAMPLE / "prometheus" / "rules"
    check = run_promtool(promtool, "check", "rules", "--lint=all", "--lint-fatal", "shop.slo.rules.yml", cwd=rules)
    assert check.returncode == 0, check.stdout + check.stderr
    test = run_promtool(promtool, "test", "rules", "shop.slo.test.yml", cwd=rules)
    assert test.returncode == 0, test.stdout + test.stderr


def test_console_script_runs() -> None:
    result = subprocess.run(["parapet", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("parapet ")


def test_runtime_does_not_import_the_toolchain() -> None:
    code = (
        "import sys, parapet, parapet.spec, parapet.conventions, parapet.slo.windows;"
        "from parapet.spec import load_spec;"
        "bad = [m for m in ('typer', 'rich', 'libcst', 'parapet_cli', 'ruamel') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(["python3", "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
