"""Rewrite the files frozen from schema v3 while v3 is still being built (this development round):
the Django migration ``0003_operating_loop`` and ``examples/shop``'s Alembic revision ``parapet_0003``.

    python -m tests.evidence.freeze_v3

Once v3 has shipped, its frozen files are never rewritten (a later change is a v4); this script is then deleted.
"""

from __future__ import annotations

import json
import pprint
import subprocess
import sys
from pathlib import Path

from parapet.evidence.schema import DIALECTS, ddl, drop_ddl

ROOT = Path(__file__).resolve().parents[2]
VERSION = 3
DJANGO = ROOT / "src/parapet/contrib/django/migrations/0003_operating_loop.py"
SHOP = ROOT / "examples/shop"
SHOP_REVISION = "migrations/versions/parapet_0003_operating_loop.py"

_TAIL = """

def _run(which: dict[str, list[str]], schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in which:
        raise RuntimeError(f"the Parapet evidence spine supports sqlite and postgresql, not {vendor}")
    for statement in which[vendor]:
        schema_editor.execute(statement, params=None)


def forwards(_apps: Any, schema_editor: Any) -> None:
    _run(CREATE, schema_editor)


def backwards(_apps: Any, schema_editor: Any) -> None:
    _run(DROP, schema_editor)


class Migration(migrations.Migration):  # type: ignore[misc]
    dependencies: ClassVar[list[tuple[str, str]]] = [("parapet", "0002_alert_intake")]
    operations: ClassVar[list[Any]] = [migrations.RunPython(forwards, backwards)]
"""


def _literal(name: str, value: object) -> str:
    return f"{name} = {pprint.pformat(value, width=110, sort_dicts=True)}\n"


def django_migration() -> str:
    create = {d: ddl(d, VERSION) for d in DIALECTS}
    drop = {d: drop_ddl(d, VERSION) for d in DIALECTS}
    return (
        '"""The evidence spine, schema v3 (the operating loop\'s parts 2-4): the canonical DDL of\n'
        '``parapet.evidence.schema`` for version 3 (frozen here; a test checks it still matches)."""\n\n'
        "from __future__ import annotations\n\n"
        "from typing import Any, ClassVar\n\n"
        "from django.db import migrations  # type: ignore[import-untyped]\n\n"
        + _literal("CREATE", create)
        + "\n"
        + _literal("DROP", drop)
        + _TAIL
    )


def main() -> None:
    DJANGO.write_text(django_migration(), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(DJANGO)], check=True)
    # The example's revision is what `parapet install` writes: drop the old one (and its manifest entry) and
    # install again, so the example stays exactly what install produces.
    (SHOP / SHOP_REVISION).unlink(missing_ok=True)
    manifest = SHOP / ".parapet/manifest.json"
    recorded = json.loads(manifest.read_text())
    recorded["files"].pop(SHOP_REVISION, None)
    manifest.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    subprocess.run([sys.executable, "-m", "parapet_cli", "install", str(SHOP)], check=True)
    print(f"wrote {DJANGO.relative_to(ROOT)} and examples/shop/{SHOP_REVISION}")


if __name__ == "__main__":
    main()
