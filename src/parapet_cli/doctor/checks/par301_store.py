"""PAR301: the incident store is reachable and migrated."""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from parapet import conventions
from parapet.errors import UserError
from parapet_cli.doctor.context import Context
from parapet_cli.doctor.findings import Finding, Severity
from parapet_cli.doctor.registry import THIS, check

STORE_PACKAGE = "parapet.evidence"
ENV_URL = conventions.DATABASE_URL_ENV


@contextmanager
def migrated_store(raw: str) -> Iterator[Any]:
    """An engine on the configured store (``raw``: the database URL), or None when it is not there to read: a
    SQLite file that does not exist (nothing is created), an unreachable or unmigrated database (PAR301's
    findings). Imports SQLAlchemy, so only after a URL was found."""
    db = importlib.import_module(f"{STORE_PACKAGE}.db")
    try:
        url = db.parse_url(raw)
        if url.get_backend_name() == "sqlite":
            database = url.database or ""
            if database and database != ":memory:" and not Path(database).expanduser().is_file():
                yield None
                return
        engine = db.create_engine_for(raw)
    except UserError:
        yield None
        return
    try:
        try:
            db.check_schema(engine)
        except UserError:
            yield None
            return
        yield engine
    finally:
        engine.dispose()


def store_shipped() -> bool:
    """Whether this version of Parapet has the store, found without importing it: the store imports SQLAlchemy,
    which a doctor run without a database URL never needs."""
    try:
        return importlib.util.find_spec(STORE_PACKAGE) is not None
    except (ImportError, ValueError):
        return False


@check(
    "PAR301",
    "store",
    title="The incident store is unreachable or not migrated",
    severity=Severity.ERROR,
    fix=(
        "Check PARAPET_DATABASE_URL (server running, credentials, database name), then create Parapet's tables: "
        "`parapet gen spine` and apply it (alembic upgrade head, manage.py migrate, or the SQL file)."
    ),
)
def store(ctx: Context) -> Iterator[Finding]:
    """Alerts that cannot be written to the store are lost as incidents: an unreachable database or missing tables
    show up only when the first page arrives. When a database URL is configured (PARAPET_DATABASE_URL), the check
    connects and looks for every table of the evidence spine; it never creates a database or a file."""
    if not store_shipped():
        yield Finding(
            THIS,
            Severity.INFO,
            f"skipped: the evidence store ({STORE_PACKAGE}) is not part of this version of Parapet",
            "nothing to do until the store ships",
            subject="store package missing",
        )
        return
    raw = os.environ.get(ENV_URL, "")
    if not raw:
        yield Finding(
            THIS,
            Severity.INFO,
            f"skipped: no database URL configured ({ENV_URL}), so the store was not checked",
            f"set {ENV_URL} where doctor runs to check the store",
            subject="no database url",
        )
        return
    module = importlib.import_module(STORE_PACKAGE)
    masked = module.mask_url(raw)
    try:
        url = importlib.import_module(f"{STORE_PACKAGE}.db").parse_url(raw)
        if url.get_backend_name() == "sqlite":
            database = url.database or ""
            if database and database != ":memory:" and not Path(database).expanduser().is_file():
                yield Finding(
                    THIS,
                    Severity.ERROR,
                    f"the SQLite store {masked} does not exist",
                    "create it by applying the spine migration, or fix the URL",
                    subject="sqlite store missing",
                )
                return
        engine = module.create_engine_for(raw)
        try:
            module.check_schema(engine)
        finally:
            engine.dispose()
    except UserError as exc:
        yield Finding(
            THIS,
            Severity.ERROR,
            exc.message,
            exc.hint or "check the database URL",
            subject=f"store {type(exc).__name__}",
        )
