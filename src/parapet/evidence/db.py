"""Where the store lives: a database URL, an engine, and errors that never show a password.

    resolve_url(explicit, root)   explicit URL, else $PARAPET_DATABASE_URL, else sqlite:///<root>/.parapet/parapet.db
    create_engine_for(url)        SQLite (WAL, foreign keys, busy timeout) or PostgreSQL through psycopg 3;
                                  ``read_only=True``: SQLite opened ``mode=ro``, PostgreSQL sessions with
                                  ``default_transaction_read_only`` on (the MCP server reads through one)
    mask_url(url)                 the URL with its password replaced by ***, for every message and log line
    check_schema(engine)          raise SpineMissing when a spine table is absent (not migrated yet)

Only ``sqlite`` and ``postgresql`` URLs are accepted (``postgres://`` and ``postgresql://`` use psycopg 3).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from parapet import conventions
from parapet.errors import ConfigError
from parapet.evidence.schema import TABLES

ENV_URL: Final = conventions.DATABASE_URL_ENV
DEFAULT_SQLITE: Final = Path(".parapet") / "parapet.db"
SQLITE_BUSY_TIMEOUT_S: Final = 30.0

_PASSWORD_IN_URL = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@?#]*:)(?P<pw>[^@]*)(?P<tail>@)")


class DatabaseUrlError(ConfigError):
    """The database URL cannot be parsed or names a database Parapet does not support."""


class DatabaseUnavailable(ConfigError):
    """The database server cannot be reached, or refused the connection."""


class SpineMissing(ConfigError):
    """The spine's tables are not in the database: it was never migrated."""


def mask_url(url: str | URL) -> str:
    """Render a URL with its password masked; works on URLs that do not even parse."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _PASSWORD_IN_URL.sub(lambda m: f"{m['head']}***{m['tail']}", url)


def scrub(message: str, url: str | URL) -> str:
    """Remove the URL's password from a driver's message, in case it quoted it."""
    password = url.password if isinstance(url, URL) else _password_of(url)
    if password:
        message = message.replace(str(password), "***")
    return message


def _password_of(raw: str) -> str | None:
    match = _PASSWORD_IN_URL.match(raw)
    return match["pw"] if match else None


def resolve_url(explicit: str | None = None, root: Path | None = None) -> str:
    """The store's URL: ``explicit``, else ``$PARAPET_DATABASE_URL``, else the SQLite file under ``.parapet/``."""
    if explicit:
        return explicit
    env = os.environ.get(ENV_URL)
    if env:
        return env
    path = (root or Path.cwd()) / DEFAULT_SQLITE
    return f"sqlite:///{path}"


def parse_url(raw: str) -> URL:
    """Parse and normalise a URL: ``postgres``/``postgresql`` use psycopg 3; only SQLite and PostgreSQL pass."""
    hint = "use sqlite:///path/to/parapet.db or postgresql://user:password@host:5432/dbname"
    try:
        url = make_url(raw.strip())
    except (ArgumentError, ValueError):
        raise DatabaseUrlError(f"malformed database URL {mask_url(raw)!r}", hint=hint) from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        if driver not in ("", "psycopg"):
            raise DatabaseUrlError(f"unsupported PostgreSQL driver {driver!r} in {mask_url(url)}", hint=hint)
        url = url.set(drivername="postgresql+psycopg")
        if not url.database:
            raise DatabaseUrlError(f"the database URL {mask_url(url)} names no database", hint=hint)
    elif backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise DatabaseUrlError(f"unsupported SQLite driver {driver!r} in {mask_url(url)}", hint=hint)
        url = url.set(drivername="sqlite+pysqlite")
    else:
        raise DatabaseUrlError(f"unsupported database {backend!r} in {mask_url(url)}", hint=hint)
    return url


def _sqlite_pragmas(busy_timeout_s: float) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        _sqlite_on_connect(dbapi_connection, busy_timeout_s)

    return on_connect


def _sqlite_read_only_pragmas(busy_timeout_s: float) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        finally:
            cursor.close()

    return on_connect


def _sqlite_on_connect(dbapi_connection: Any, busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _read_only_sqlite(url: URL) -> URL:
    """The same file as a ``mode=ro`` URI: SQLite itself refuses every write on the connection."""
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        raise DatabaseUrlError(
            f"a read-only connection needs a SQLite file, not {mask_url(url)}",
            hint="use sqlite:///path/to/parapet.db",
        )
    path = Path(database).expanduser().absolute()
    return url.set(database=f"file:{quote(str(path))}", query={"mode": "ro", "uri": "true"})


def create_engine_for(
    raw_url: str,
    *,
    connect_args: dict[str, Any] | None = None,
    busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S,
    read_only: bool = False,
    **kwargs: Any,
) -> Engine:
    """An engine for the store. SQLite files get their parent directory created. ``busy_timeout_s`` bounds
    how long a statement waits for a lock (SQLite's busy timeout; PostgreSQL's lock_timeout when shorter
    than the default, with a connect timeout to match): the webhook uses a short one, so a busy database
    answers 503 quickly instead of holding Alertmanager's request.

    ``read_only``: every connection refuses writes by the database's own rule, not by convention: SQLite
    opens the file with ``mode=ro`` (it must exist), PostgreSQL starts each session with
    ``default_transaction_read_only=on``."""
    url = parse_url(raw_url)
    args = dict(connect_args or {})
    short = busy_timeout_s < SQLITE_BUSY_TIMEOUT_S
    if read_only and url.get_backend_name() == "sqlite":
        args.setdefault("timeout", busy_timeout_s)
        engine = create_engine(_read_only_sqlite(url), connect_args=args, **kwargs)
        event.listen(engine, "connect", _sqlite_read_only_pragmas(busy_timeout_s))
        return engine
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            parent = Path(database).expanduser().parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(
                    f"cannot create {parent} for the SQLite store: {exc.strerror}",
                    hint=f"make the directory writable, or set {ENV_URL}",
                ) from None
        args.setdefault("timeout", busy_timeout_s)
        engine = create_engine(url, connect_args=args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_s))
        return engine
    given = url.query.get("options")  # connect_args replace the URL's options: keep both
    given = " ".join(given) if isinstance(given, tuple) else (given or "")
    if short:
        args.setdefault("connect_timeout", max(1, int(busy_timeout_s)))
        args.setdefault("options", f"{given} -c lock_timeout={int(busy_timeout_s * 1000)}".strip())
        kwargs.setdefault("pool_timeout", busy_timeout_s)
    if read_only:  # whatever other options were given, this one is always added
        args["options"] = f"{args.get('options', given)} -c default_transaction_read_only=on".strip()
    try:
        return create_engine(url, connect_args=args, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError):
        raise DatabaseUrlError(
            "PostgreSQL needs the psycopg driver, which is not installed",
            hint="pip install 'parapet[postgres]'",
        ) from None


def check_sqlite_file(raw_url: str) -> None:
    """Refuse a SQLite URL whose file is missing or not a file (before a read-only engine fails on it)."""
    url = parse_url(raw_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    path = Path(url.database).expanduser().absolute()
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise DatabaseUnavailable(
            f"the SQLite store {path} {what}",
            hint="name the store the web app or worker writes; a read-only connection never creates one",
        )


def describe_error(exc: BaseException, url: str | URL) -> str:
    """One line from a driver error: the first line of the driver's own message, password scrubbed."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return scrub(first, url)


@contextmanager
def reachable(engine: Engine) -> Iterator[Connection]:
    """A connection, or DatabaseUnavailable with a one-line reason and a masked URL."""
    try:
        conn = engine.connect()
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(
            f"cannot connect to {mask_url(engine.url)}: {describe_error(exc, engine.url)}",
            hint=f"check that the database server runs and that the URL is right "
            f"(the one the command was given, {ENV_URL} or the spec's database.url)",
        ) from None
    with conn:
        yield conn


def missing_tables(conn: Connection) -> list[str]:
    inspector = inspect(conn)
    return [t.name for t in TABLES if not inspector.has_table(t.name)]


def check_schema(engine: Engine) -> None:
    """Raise DatabaseUnavailable or SpineMissing, before anything is read or written."""
    with reachable(engine) as conn:
        missing = missing_tables(conn)
    if missing:
        raise SpineMissing(
            f"the evidence spine is not migrated in {mask_url(engine.url)}: missing {', '.join(missing)}",
            hint="run `parapet gen spine` and apply it (alembic upgrade head, manage.py migrate, or the SQL file)",
        )
