"""PAR104: state that lives in one process, used as if every worker and replica shared it."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from parapet_cli.doctor.context import Context, at_node, gate, unknown_suffix
from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.pyindex import Module, const_str, dict_get, keyword
from parapet_cli.doctor.registry import check

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


@check(
    "PAR104",
    "per-process-state",
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
    multi = ctx.topology.multi()
    suffix = unknown_suffix(multi)
    settings = [m for m in ctx.py.settings_modules() if not ctx.py.debug_literal(m)]
    has_caches = any(m.assigned("CACHES") is not None for m in ctx.py.settings_modules())
    uses_ratelimit = ctx.py.uses("django_ratelimit", "ratelimit") or any(
        node.value in ("django_ratelimit", "ratelimit")
        for m in ctx.py.settings_modules()
        if (apps := m.assigned("INSTALLED_APPS")) is not None
        for node in ast.walk(apps[0])
        if isinstance(node, ast.Constant)
    )
    for module in settings:
        caches = module.assigned("CACHES")
        locmem = not has_caches
        if caches is not None:
            backend = _cache_backend(caches[0])
            if backend is not None and backend[0].endswith(("LocMemCache", "FileBasedCache")):
                locmem = True
                base = Severity.ERROR if uses_ratelimit else Severity.WARNING
                if backend[0].endswith("FileBasedCache"):
                    severity = gate(base, ctx.topology.multi_node())
                    where = "one node's disk"
                else:
                    severity = gate(base, multi)
                    where = "each process's memory"
                yield from _report(
                    severity,
                    module,
                    backend[1].lineno,
                    backend[1].col_offset,
                    f"the default cache ({backend[0].rsplit('.', 1)[-1]}) lives in {where}"
                    + (", and django-ratelimit counts in it" if uses_ratelimit else "")
                    + suffix,
                    "use django.core.cache.backends.redis.RedisCache (or Memcached)",
                )
        elif ctx.py.uses("django.core.cache") or uses_ratelimit:
            apps = module.assigned("INSTALLED_APPS")
            if apps is not None and not has_caches:
                yield from _report(
                    gate(Severity.WARNING, multi),
                    module,
                    apps[1].lineno,
                    None,
                    "CACHES is not set, so Django uses a LocMemCache per process while the code uses the cache"
                    + suffix,
                    "set CACHES to a shared backend (Redis or Memcached)",
                    confidence=Confidence.MEDIUM,
                )
        session = module.assigned("SESSION_ENGINE")
        if session is not None and const_str(session[0]) == "django.contrib.sessions.backends.cache" and locmem:
            yield from _report(
                gate(Severity.ERROR, multi),
                module,
                session[1].lineno,
                None,
                "sessions are stored in a per-process cache: a user is logged out whenever another worker answers"
                + suffix,
                "use a shared cache, or SESSION_ENGINE django.contrib.sessions.backends.cached_db",
            )
        layers = module.assigned("CHANNEL_LAYERS")
        if layers is not None:
            backend = _cache_backend(layers[0])
            if backend is not None and backend[0].endswith("InMemoryChannelLayer"):
                yield from _report(
                    gate(Severity.ERROR, multi),
                    module,
                    backend[1].lineno,
                    backend[1].col_offset,
                    "Channels' InMemoryChannelLayer reaches only the clients of one process" + suffix,
                    "use channels_redis.core.RedisChannelLayer",
                )
    for module in ctx.py.modules:
        if ctx.py.is_dev_settings(module):
            continue
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Assign) and any(_secret_targets(t) for t in node.targets):
                if _random_call(module, node.value):
                    yield from _report(
                        gate(Severity.ERROR, multi),
                        module,
                        node.lineno,
                        node.col_offset,
                        "the secret key is generated at start-up, so each process signs sessions and CSRF tokens "
                        "with its own key" + suffix,
                        "read SECRET_KEY from the environment or a secret store",
                    )
            elif isinstance(node, ast.Assign) and any(
                (isinstance(t, ast.Name) and t.id == "CACHE_TYPE")
                or const_str(getattr(t, "slice", None)) == "CACHE_TYPE"
                for t in node.targets
            ):
                if const_str(node.value) in SIMPLE_CACHES:
                    yield from _simple_cache(module, node.value, multi)
            elif isinstance(node, ast.Dict):
                value = dict_get(node, "CACHE_TYPE")
                if value is not None and const_str(value) in SIMPLE_CACHES:
                    yield from _simple_cache(module, value, multi)
        for site in module.calls:
            if site.name in LIMITERS:
                storage = const_str(keyword(site.call, "storage_uri"))
                if keyword(site.call, "storage_uri") is not None and storage is None:
                    continue  # computed: trust it
                if storage is None and _storage_configured(ctx):
                    continue
                if storage is None or storage.startswith("memory://"):
                    yield from _report(
                        gate(Severity.ERROR, multi),
                        module,
                        site.call.lineno,
                        site.call.col_offset,
                        "the rate limiter counts in memory:// storage, so each worker and replica allows the full "
                        "limit" + suffix,
                        "pass storage_uri='redis://…' (or another shared storage)",
                    )


def _report(
    severity: Severity | None,
    module: Module,
    lineno: int,
    col: int | None,
    message: str,
    hint: str,
    *,
    confidence: Confidence = Confidence.HIGH,
) -> Iterator[Finding]:
    """The finding, unless the topology gated its severity away (``gate`` gave None)."""
    if severity is not None:
        yield at_node("PAR104", severity, module, lineno, col, message, hint, confidence=confidence)


def _storage_configured(ctx: Context) -> bool:
    """Flask-Limiter also reads RATELIMIT_STORAGE_URI from the app's config or the environment."""
    name = "RATELIMIT_STORAGE_URI"
    return any(name in "\n".join(m.lines) for m in ctx.py.modules) or any(name in p.env for p in ctx.topology.processes)


def _simple_cache(module: Module, node: ast.expr, multi: bool | None) -> Iterator[Finding]:
    yield from _report(
        gate(Severity.WARNING, multi),
        module,
        node.lineno,
        node.col_offset,
        "Flask-Caching's SimpleCache lives in each process's memory" + unknown_suffix(multi),
        "use CACHE_TYPE RedisCache or MemcachedCache",
    )
