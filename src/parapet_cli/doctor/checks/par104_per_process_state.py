"""PAR104: state that lives in one process, used as if every worker and replica shared it."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from parapet_cli.doctor.context import Context, at_node, gate, unknown_suffix
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.pyindex import Module, const_str, dict_get, keyword
from parapet_cli.doctor.registry import THIS, Example, check, text_question
from parapet_cli.doctor.topology import Sharing

RANDOM_CALLS = (
    "get_random_secret_key",
    "os.urandom",
    "secrets.token_hex",
    "secrets.token_bytes",
    "secrets.token_urlsafe",
    "uuid.uuid4",
    "random.random",
    "random.getrandbits",
)
LIMITERS = ("flask_limiter.Limiter", "flask_limiter.extension.Limiter", "slowapi.Limiter", "slowapi.extension.Limiter")
SIMPLE_CACHES = ("simple", "SimpleCache", "flask_caching.backends.SimpleCache")


def _cache_backend(value: ast.expr) -> tuple[str, ast.expr] | None:
    default = dict_get(value, "default")
    if default is None:
        return None
    backend = dict_get(default, "BACKEND")
    text = const_str(backend)
    return (text, backend) if text is not None and backend is not None else None


def _random_call(module: Module, value: ast.expr) -> bool:
    node = value
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("hex", "decode"):
        node = node.func.value
    if not isinstance(node, ast.Call):
        return False
    name = module.qualname(node.func)
    return name.endswith(RANDOM_CALLS)


def _secret_targets(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "SECRET_KEY"
    if isinstance(node, ast.Attribute):
        return node.attr in ("secret_key", "SECRET_KEY")
    if isinstance(node, ast.Subscript):
        return const_str(node.slice) == "SECRET_KEY"
    return False


@dataclass(frozen=True)
class _Where:
    """One module, and what runs it."""

    ctx: Context
    module: Module
    sharing: Sharing

    @property
    def multi(self) -> bool | None:
        return self.sharing.multi

    def report(
        self,
        base: Severity,
        node: ast.AST,
        message: str,
        hint: str,
        *,
        multi: bool | str | None = "processes",
        confidence: Confidence = Confidence.HIGH,
    ) -> Iterator[Finding]:
        """The finding, unless the processes that run the module make it moot (``gate``); ``multi`` is the
        question asked of them: several processes (the default) or several nodes."""
        several = self.sharing.multi if multi == "processes" else self.sharing.multi_node if multi == "nodes" else None
        severity = gate(base, several)
        if severity is None:
            return
        yield at_node(
            THIS,
            severity,
            self.module,
            getattr(node, "lineno", 1),
            getattr(node, "col_offset", None),
            f"{message} [{self.sharing.describe()}]{unknown_suffix(several)}",
            hint,
            confidence=confidence,
        )


# ------------------------------------------------------------------------------ pitfalls of Django settings


_RATELIMIT = text_question("imports-ratelimit", r"(import|from)\s+(django_)?ratelimit\b")
_DJANGO_CACHE = text_question("imports-django-cache", r"django\.core(\.cache|\s+import[^\n]*\bcache\b)")


def _uses_ratelimit(ctx: Context) -> bool:
    return bool(ctx.py.text_matches(_RATELIMIT)) or any(
        node.value in ("django_ratelimit", "ratelimit")
        for m in ctx.py.settings_modules()
        if (apps := m.assigned("INSTALLED_APPS")) is not None
        for node in ast.walk(apps[0])
        if isinstance(node, ast.Constant)
    )


def _has_caches(ctx: Context) -> bool:
    """CACHES is set somewhere, if only under a condition (``if env("CACHE_URL"): CACHES = …``): trusted."""
    return any(
        isinstance(t, ast.Name) and t.id == "CACHES"
        for m in ctx.py.settings_modules()
        for node in m.nodes(ast.Assign)
        for t in node.targets
    )


def _local_cache(ctx: Context, module: Module) -> ast.expr | None:
    """The BACKEND of a default cache held per process (LocMemCache) or per node (FileBasedCache)."""
    caches = module.assigned("CACHES")
    backend = _cache_backend(caches[0]) if caches is not None else None
    if backend is not None and backend[0].endswith(("LocMemCache", "FileBasedCache")):
        return backend[1]
    return None


def default_cache(at: _Where) -> Iterator[Finding]:
    node = _local_cache(at.ctx, at.module)
    if node is None:
        return
    name = (const_str(node) or "").rsplit(".", 1)[-1]
    ratelimit = _uses_ratelimit(at.ctx)
    filebased = name == "FileBasedCache"
    where = "one node's disk" if filebased else "each process's memory"
    yield from at.report(
        Severity.ERROR if ratelimit else Severity.WARNING,
        node,
        f"the default cache ({name}) lives in {where}" + (", and django-ratelimit counts in it" if ratelimit else ""),
        "use django.core.cache.backends.redis.RedisCache (or Memcached)",
        multi="nodes" if filebased else "processes",
    )


def caches_unset(at: _Where) -> Iterator[Finding]:
    if at.module.assigned("CACHES") is not None or _has_caches(at.ctx):
        return
    if not (at.ctx.py.text_matches(_DJANGO_CACHE) or _uses_ratelimit(at.ctx)):
        return
    apps = at.module.assigned("INSTALLED_APPS")
    if apps is not None:
        yield from at.report(
            Severity.WARNING,
            apps[1],
            "CACHES is not set, so Django uses a LocMemCache per process while the code uses the cache",
            "set CACHES to a shared backend (Redis or Memcached)",
            confidence=Confidence.MEDIUM,
        )


def cached_sessions(at: _Where) -> Iterator[Finding]:
    session = at.module.assigned("SESSION_ENGINE")
    if session is None or const_str(session[0]) != "django.contrib.sessions.backends.cache":
        return
    if _has_caches(at.ctx) and _local_cache(at.ctx, at.module) is None:
        return
    yield from at.report(
        Severity.ERROR,
        session[1],
        "sessions are stored in a per-process cache: a user is logged out whenever another worker answers",
        "use a shared cache, or SESSION_ENGINE django.contrib.sessions.backends.cached_db",
    )


def in_memory_channels(at: _Where) -> Iterator[Finding]:
    layers = at.module.assigned("CHANNEL_LAYERS")
    backend = _cache_backend(layers[0]) if layers is not None else None
    if backend is not None and backend[0].endswith("InMemoryChannelLayer"):
        yield from at.report(
            Severity.ERROR,
            backend[1],
            "Channels' InMemoryChannelLayer reaches only the clients of one process",
            "use channels_redis.core.RedisChannelLayer",
        )


# ------------------------------------------------------------------------------ pitfalls of any module


def _debug_only(module: Module) -> set[int]:
    """ids of the statements under ``if … DEBUG …:``: development fallbacks."""
    out: set[int] = set()
    for test in module.nodes(ast.If):
        if "DEBUG" in ast.unparse(test.test):
            out.update(id(n) for stmt in test.body for n in ast.walk(stmt))
    return out


def generated_secret(at: _Where) -> Iterator[Finding]:
    found = [
        node
        for node in at.module.nodes(ast.Assign)
        if any(_secret_targets(t) for t in node.targets) and _random_call(at.module, node.value)
    ]
    debug_only = _debug_only(at.module) if found else set()
    for node in found:
        if id(node) not in debug_only:
            yield from at.report(
                Severity.ERROR,
                node,
                "the secret key is generated at start-up, so each process signs sessions and CSRF tokens with "
                "its own key",
                "read SECRET_KEY from the environment or a secret store",
            )


def simple_cache(at: _Where) -> Iterator[Finding]:
    for node in at.module.nodes(ast.Assign, ast.Dict):
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and any(
            (isinstance(t, ast.Name) and t.id == "CACHE_TYPE") or const_str(getattr(t, "slice", None)) == "CACHE_TYPE"
            for t in node.targets
        ):
            value = node.value
        elif isinstance(node, ast.Dict):
            value = dict_get(node, "CACHE_TYPE")
        if value is not None and const_str(value) in SIMPLE_CACHES:
            yield from at.report(
                Severity.WARNING,
                value,
                "Flask-Caching's SimpleCache lives in each process's memory",
                "use CACHE_TYPE RedisCache or MemcachedCache",
            )


def memory_rate_limiter(at: _Where) -> Iterator[Finding]:
    for site in at.module.calls:
        if site.name not in LIMITERS:
            continue
        storage = const_str(keyword(site.call, "storage_uri"))
        if keyword(site.call, "storage_uri") is not None and storage is None:
            continue  # computed: trust it
        if storage is None and _storage_configured(at.ctx):
            continue
        if storage is None or storage.startswith("memory://"):
            yield from at.report(
                Severity.ERROR,
                site.call,
                "the rate limiter counts in memory:// storage, so each worker and replica allows the full limit",
                "pass storage_uri='redis://…' (or another shared storage)",
            )


def _storage_configured(ctx: Context) -> bool:
    """Flask-Limiter also reads RATELIMIT_STORAGE_URI from the app's config or the environment."""
    name = "RATELIMIT_STORAGE_URI"
    return any(name in "\n".join(m.lines) for m in ctx.py.modules) or any(name in p.env for p in ctx.topology.processes)


SETTINGS_PITFALLS: tuple[Callable[[_Where], Iterator[Finding]], ...] = (
    default_cache,
    caches_unset,
    cached_sessions,
    in_memory_channels,
)
MODULE_PITFALLS: tuple[Callable[[_Where], Iterator[Finding]], ...] = (
    generated_secret,
    simple_cache,
    memory_rate_limiter,
)


EXAMPLES = (
    Example(
        "bad",
        {
            "api/app.py": """\
from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

app = Flask(__name__)
limiter = Limiter(get_remote_address, app=app, default_limits=["100 per minute"])
""",
            "docker-compose.yml": """\
services:
  web:
    image: registry.example.com/shop:3.1.0
    command: gunicorn shop.wsgi --workers 4 --bind 0.0.0.0:8000
    environment:
      DJANGO_SETTINGS_MODULE: shop.settings
""",
            "shop/settings.py": """\
from django.core.management.utils import get_random_secret_key

SECRET_KEY = get_random_secret_key()
DEBUG = False
INSTALLED_APPS = ["django.contrib.sessions", "channels", "django_ratelimit", "shop"]
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels.layers.InMemoryChannelLayer",
    }
}
""",
        },
        fires=(
            ("api/app.py", 6, "error"),
            ("shop/settings.py", 3, "error"),
            ("shop/settings.py", 8, "error"),
            ("shop/settings.py", 11, "error"),
            ("shop/settings.py", 14, "error"),
        ),
    ),
    Example(
        "good",
        {
            "api/app.py": """\
from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

app = Flask(__name__)
limiter = Limiter(get_remote_address, app=app, storage_uri="redis://redis:6379/1")
""",
            "docker-compose.yml": """\
services:
  web:
    image: registry.example.com/shop:3.1.0
    command: gunicorn shop.wsgi --workers 4 --bind 0.0.0.0:8000
    environment:
      DJANGO_SETTINGS_MODULE: shop.settings
""",
            "shop/settings.py": """\
import os

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
INSTALLED_APPS = ["django.contrib.sessions", "channels", "django_ratelimit", "shop"]
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("REDIS_URL", "redis://redis:6379/0"),
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [("redis", 6379)]},
    }
}
""",
        },
    ),
)


@check(
    "PAR104",
    "per-process-state",
    examples=EXAMPLES,
    # settings modules, Flask-Caching and limiter configuration, and a secret key next to a random call
    python=r"(?m)^\s*(INSTALLED_APPS|DATABASES|MIDDLEWARE|CACHES|SESSION_ENGINE|CHANNEL_LAYERS)\s*(:|\+?=)|CACHE_TYPE"
    r"|flask_limiter|slowapi|RATELIMIT_STORAGE_URI"
    r"|\A(?=[\s\S]*(?i:secret_key))(?=[\s\S]*(get_random_secret_key|urandom|token_hex|token_bytes|token_urlsafe"
    r"|uuid4|random\.random|getrandbits))",
    title="Per-process state (cache, rate limiter, channel layer, secret key) is treated as shared",
    severity=Severity.ERROR,
    fix=(
        "Use a shared backend: Redis or Memcached for Django CACHES and Flask-Caching, storage_uri='redis://…' for "
        "Flask-Limiter and slowapi, channels_redis for Channels; read SECRET_KEY from the environment."
    ),
)
def per_process_state(ctx: Context) -> Iterator[Finding]:
    """Each worker and replica has its own memory. A LocMemCache, a rate limiter with memory:// storage or an
    in-memory channel layer then holds one process's share: limits multiply by the number of workers, cache
    invalidation reaches one worker, WebSocket groups miss the clients of other workers. A SECRET_KEY generated at
    start-up differs per process, so sessions, CSRF tokens and signed cookies fail at random."""
    for module in ctx.py.settings_modules():
        if not ctx.py.debug_literal(module):
            at = _Where(ctx, module, ctx.topology.sharing(module.rel))
            for pitfall in SETTINGS_PITFALLS:
                yield from pitfall(at)
    for module in ctx.py.modules:
        if not ctx.py.is_dev_settings(module):
            at = _Where(ctx, module, ctx.topology.sharing(module.rel))
            for pitfall in MODULE_PITFALLS:
                yield from pitfall(at)
