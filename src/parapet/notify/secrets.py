"""Notifier secrets: read from an environment variable or a file, never from the spec, and masked everywhere.

Every value read here is remembered for the life of the process, and ``redact(text)`` replaces each
remembered secret (and, for a URL, its query values and its percent-encoded form) with ``[redacted]``. What
Parapet writes from a notifier's world (timeline entries, job errors, log lines, error messages) goes through
``redact`` first, so a secret that leaks into an exception message from a client library stops there.
``remember_configured(spec)`` reads every secret the spec names that is available, at start-up, so even a
message about a target that was never used is masked.

A secret shorter than 8 characters is refused: masking it would mangle ordinary text, and it is too short
to be a secret anyway.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, quote, urlsplit

if TYPE_CHECKING:
    from parapet.spec.model import NotifierSettings, SecretRef, Spec

MASK: Final = "[redacted]"
MIN_LENGTH: Final = 8
MAX_FILE: Final = 64 * 1024

_lock = threading.Lock()
_known: tuple[str, ...] = ()  # longest first, so a secret containing another is masked whole


def remember(value: str) -> None:
    """Mask ``value`` (and its percent-encoded form, and a URL's query values) from now on."""
    global _known
    forms = {value, quote(value, safe=""), quote(value, safe="/:")}
    if "://" in value:
        parts = urlsplit(value)
        forms.update(v for _, v in parse_qsl(parts.query) if len(v) >= MIN_LENGTH)
        if parts.query:
            forms.add(parts.query)
    with _lock:
        _known = tuple(sorted(set(_known) | {f for f in forms if len(f) >= MIN_LENGTH}, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every remembered secret replaced by ``[redacted]``."""
    for secret in _known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_data(value: Any) -> Any:
    """``redact`` through JSON-like data (mappings, lists, strings)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact(str(k)): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


def forget_all() -> None:
    """Forget every remembered secret (tests that configure several specs in one process)."""
    global _known
    with _lock:
        _known = ()


def read(ref: SecretRef, *, environ: Mapping[str, str] | None = None) -> str:
    """The secret's value, remembered for masking; SecretUnavailable (naming where, never what) otherwise."""
    from parapet.notify.base import SecretUnavailable

    env = os.environ if environ is None else environ
    if ref.env is not None:
        value = env.get(ref.env, "").strip()
        if not value:
            raise SecretUnavailable(
                f"the notifier's {ref.field} is not set: environment variable {ref.env} is empty or unset",
                hint=f"export {ref.env} in the environment of every Parapet process",
            )
    else:
        value = _read_file(ref)
    if len(value) < MIN_LENGTH:
        raise SecretUnavailable(
            f"the notifier's {ref.field} from {ref.where} is shorter than {MIN_LENGTH} characters",
            hint="use the value the service issued (a token, URL or key is longer)",
        )
    remember(value)
    return value


def _read_file(ref: SecretRef) -> str:
    from parapet.notify.base import SecretUnavailable

    path = Path(ref.file) if ref.file is not None else Path()
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise SecretUnavailable(f"the notifier's {ref.field} file {path} is not a regular file")
        if info.st_size > MAX_FILE:
            raise SecretUnavailable(f"the notifier's {ref.field} file {path} is larger than 64 KiB")
        return path.read_bytes().decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise SecretUnavailable(
            f"cannot read the notifier's {ref.field} file {path}: {reason}",
            hint="create the file (mode 0600) readable by every Parapet process, holding only the secret",
        ) from None


class SecretReader:
    """The secrets of one ``notifiers:`` target, read on demand (a rotated file is read again)."""

    def __init__(self, settings: NotifierSettings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.environ = environ

    def read(self, name: str) -> str:
        ref = self.settings.secret(name)
        if ref is None:
            from parapet.notify.base import SecretUnavailable

            raise SecretUnavailable(
                f"notifier {self.settings.name} has no {name}",
                hint=f"set {name}_env or {name}_file under notifiers: {self.settings.name}:",
            )
        return read(ref, environ=self.environ)

    def has(self, name: str) -> bool:
        return self.settings.secret(name) is not None


def check(ref: SecretRef, *, environ: Mapping[str, str] | None = None) -> str | None:
    """Why the secret cannot be read (one line, never its value), or None when it can."""
    from parapet.notify.base import SecretUnavailable

    try:
        read(ref, environ=environ)
    except SecretUnavailable as exc:
        return exc.message
    return None


def remember_configured(spec: Spec | None, *, environ: Mapping[str, str] | None = None) -> None:
    """Read and remember every notifier secret of ``spec`` that is available (the missing ones are reported by
    ``parapet doctor`` and by the delivery that needs them)."""
    if spec is None:
        return
    for target in spec.notifiers:
        for ref in target.secrets:
            check(ref, environ=environ)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in a record's message (given to client libraries' loggers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def redacting_logger(name: str) -> logging.Logger:
    """The logger ``name`` with a RedactingFilter (once)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
