"""Each codemod on small sources: what it writes, that a second pass changes nothing, that comments and
formatting survive, and that without its anchor it changes nothing and names the lines to add by hand."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from parapet.errors import ConfigError
from parapet_cli.codemods import Wiring, apps, django, hooks
from parapet_cli.codemods.alembic import wire_env

Codemod = Callable[[str, str], Wiring]


def engine(source: str, filename: str) -> Wiring:
    return hooks.wire_hook(source, filename, hooks.ENGINE)


def celery(source: str, filename: str) -> Wiring:
    return hooks.wire_hook(source, filename, hooks.CELERY)


def procrastinate(source: str, filename: str) -> Wiring:
    return hooks.wire_hook(source, filename, hooks.PROCRASTINATE)


def settings(source: str, filename: str) -> Wiring:
    return django.wire_settings(source, filename)[-1]


M = "  # parapet: managed"

# (codemod, before, after): ``after`` is what the codemod writes, and a second pass leaves it as it is.
WIRES: dict[str, tuple[Codemod, str, str]] = {
    "engine": (
        engine,
        "from sqlalchemy import create_engine\n\n# one pool per process\nengine = create_engine(URL)  # keep\n",
        "from parapet.metrics.sqlalchemy import instrument_engine\nfrom sqlalchemy import create_engine\n\n"
        f"# one pool per process\nengine = create_engine(URL)  # keep\ninstrument_engine(engine){M}\n",
    ),
    "engine-aliased-module": (
        engine,
        "import sqlalchemy as sa\n\nENGINE: sa.Engine = sa.create_engine(URL, pool_size=5)\nx = 1\n",
        "import sqlalchemy as sa\nfrom parapet.metrics.sqlalchemy import instrument_engine\n\n"
        f"ENGINE: sa.Engine = sa.create_engine(URL, pool_size=5)\ninstrument_engine(ENGINE){M}\nx = 1\n",
    ),
    "engine-async-and-sync": (
        engine,
        "from sqlalchemy import create_engine\nfrom sqlalchemy.ext.asyncio import create_async_engine as cae\n"
        "sync = create_engine(A)\nasync_engine = cae(B)\n",
        "from parapet.metrics.sqlalchemy import instrument_engine\nfrom sqlalchemy import create_engine\n"
        "from sqlalchemy.ext.asyncio import create_async_engine as cae\n"
        f"sync = create_engine(A)\ninstrument_engine(sync){M}\n"
        f"async_engine = cae(B)\ninstrument_engine(async_engine){M}\n",
    ),
    "celery": (
        celery,
        'from celery import Celery\n\napp = Celery("shop")\napp.config_from_object("celeryconfig")\n',
        'from celery import Celery\nfrom parapet.metrics.celery import instrument_celery\n\napp = Celery("shop")\n'
        f'instrument_celery(app){M}\napp.config_from_object("celeryconfig")\n',
    ),
    "procrastinate": (
        procrastinate,
        "import procrastinate\n\napp = procrastinate.App(connector=connector)\n",
        "import procrastinate\nfrom parapet.metrics.procrastinate import instrument_procrastinate\n\n"
        f"app = procrastinate.App(connector=connector)\ninstrument_procrastinate(app){M}\n",
    ),
    "alembic-env": (
        wire_env,
        "from alembic import context\n\ncontext.configure(\n    url=url,\n    target_metadata=metadata,  # ours\n)\n"
        "context.configure(connection=connection, target_metadata=metadata)\n"
        "context.configure(url=url,\n                  target_metadata=metadata  # wrapped\n                  )\n",
        "from alembic import context\nfrom parapet.evidence.alembic import include_name\n\ncontext.configure(\n"
        "    url=url,\n    target_metadata=metadata,  # ours\n    include_name=include_name,\n)\n"
        "context.configure(\n    connection=connection, target_metadata=metadata, include_name=include_name\n)\n"
        "context.configure(url=url,\n                  target_metadata=metadata,  # wrapped\n"
        "                  include_name=include_name\n                  )\n",
    ),
    "alembic-env-own-filter": (
        wire_env,
        "from alembic import context\n\ncontext.configure(url=url, include_name=mine)\n",
        "from alembic import context\nfrom parapet.evidence.alembic import parapet_include_name\n\n"
        "context.configure(url=url, include_name=parapet_include_name(mine))\n",
    ),
    "django-settings-one-per-line": (
        settings,
        'INSTALLED_APPS = [\n    "orders",\n]\nMIDDLEWARE = [\n    "django.middleware.common.CommonMiddleware",\n]\n',
        'INSTALLED_APPS = [\n    "orders",\n    "parapet.contrib.django",\n]\nMIDDLEWARE = [\n'
        '    "parapet.metrics.django.ParapetMiddleware",\n    "django.middleware.common.CommonMiddleware",\n]\n',
    ),
    "django-settings-one-line": (
        settings,
        'INSTALLED_APPS = ("a",)\nMIDDLEWARE = ["django.middleware.security.SecurityMiddleware", "x"]\n',
        'INSTALLED_APPS = ("a", "parapet.contrib.django",)\n'
        'MIDDLEWARE = ["django.middleware.security.SecurityMiddleware", '
        '"parapet.metrics.django.ParapetMiddleware", "x"]\n',
    ),
    "django-settings-comments-stay": (
        settings,
        'INSTALLED_APPS = [\n    "a",\n    "b"  # last\n]\nMIDDLEWARE = [\n    "x",  # x\n]\n',
        'INSTALLED_APPS = [\n    "a",\n    "b",  # last\n    "parapet.contrib.django"\n]\nMIDDLEWARE = [\n'
        '    "parapet.metrics.django.ParapetMiddleware",\n    "x",  # x\n]\n',
    ),
    "flask-factory": (
        apps.wire_flask,
        "import os\nfrom flask import Flask\n\n\ndef create_app():\n    app = Flask(__name__)\n    return app\n",
        "import os\nfrom flask import Flask\nfrom parapet.metrics.wsgi import instrument_flask\n\n\ndef create_app():\n"
        "    app = Flask(__name__)\n"
        f'    instrument_flask(app, bearer_token=os.environ.get("METRICS_TOKEN") or None){M}\n'
        "    return app\n",
    ),
}


@pytest.mark.parametrize("case", list(WIRES))
def test_codemod_wires_once(case: str) -> None:
    codemod, before, after = WIRES[case]
    first = codemod(before, "host.py")
    assert first.source == after
    assert first.changed and not first.manual
    second = codemod(first.source, "host.py")
    assert second.source == after and not second.changed and second.already


# (codemod, source without an anchor, a line of what to add by hand)
NO_ANCHOR: dict[str, tuple[Codemod, str, str]] = {
    "engine-in-a-function": (
        engine,
        "from sqlalchemy import create_engine\n\ndef get_engine():\n    return create_engine(URL)\n",
        "instrument_engine(engine)",
    ),
    "engine-async-in-a-function": (
        engine,
        "import sqlalchemy.ext.asyncio as aio\n\ndef make():\n    return aio.create_async_engine(URL)\n",
        "instrument_engine(engine)",
    ),
    "celery-in-a-factory": (
        celery,
        "from celery import Celery\n\ndef make_celery(app):\n    celery = Celery(app.name)\n    return celery\n",
        "from parapet.metrics.celery import instrument_celery",
    ),
    "alembic-env-without-configure": (wire_env, "from alembic import context\n", "include_name=include_name"),
    "flask-built-elsewhere": (apps.wire_flask, "app = make_flask(__name__)\n", "instrument_flask(app"),
}


@pytest.mark.parametrize("case", list(NO_ANCHOR))
def test_codemod_without_anchor_changes_nothing_and_names_the_lines(case: str) -> None:
    codemod, source, line = NO_ANCHOR[case]
    result = codemod(source, "host.py")
    assert result.source == source and not result.changed and not result.already
    assert any(line in manual for manual in result.manual), result.manual


CODEMODS = [engine, celery, wire_env, apps.wire_asgi, settings]


@pytest.mark.parametrize("codemod", CODEMODS, ids=lambda c: c.__name__)
def test_codemod_refuses_a_file_that_does_not_parse(codemod: Codemod) -> None:
    with pytest.raises(ConfigError) as caught:
        codemod("import os\n\nengine = create_engine(URL\n", "pkg/db.py")
    assert str(caught.value).startswith("pkg/db.py:3:23: cannot wire Parapet, the file does not parse: ")
    assert "\n" not in str(caught.value)
    assert caught.value.hint is not None and "pkg/db.py:3" in caught.value.hint


@pytest.mark.parametrize(
    "source",
    [
        "from mylib import create_engine\n\nengine = create_engine()\n",  # not SQLAlchemy's
        '"""Call create_engine(url) once per process."""\n',  # a mention, not a call
    ],
)
def test_engine_codemod_ignores_what_is_not_a_sqlalchemy_engine(source: str) -> None:
    result = engine(source, "host.py")
    assert result.source == source and not result.changed and not result.manual
