"""The notifier kinds: which module delivers each ``kind:`` of ``notifiers:``, imported only when used.

MODULES                  kind -> module; the module's class is decorated with ``parapet.notify.base.register``
notifier_class(kind)     the class, importing its module (UnknownNotifierKind when none)
build(settings)          the target's notifier, its secrets read through a SecretReader
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from parapet.notify.base import BaseNotifier, UnknownNotifierKind, registered
from parapet.notify.secrets import SecretReader

if TYPE_CHECKING:
    from parapet.spec.model import NotifierSettings

MODULES: Final[Mapping[str, str]] = {
    "slack": "parapet.notify.slack",
    "teams": "parapet.notify.teams",
    "webhook": "parapet.notify.webhook",
    "email": "parapet.notify.smtp",
}


def notifier_class(kind: str) -> type[BaseNotifier]:
    """The class delivering ``kind``; its module is imported on first use."""
    module = MODULES.get(kind)
    if module is None:
        raise UnknownNotifierKind(
            f"no notifier delivers kind {kind!r} in this installation",
            hint=f"kinds with a module here: {', '.join(sorted(MODULES)) or 'none'}",
        )
    importlib.import_module(module)
    cls = registered(kind)
    if cls is None:
        raise UnknownNotifierKind(f"module {module} registers no notifier of kind {kind!r}")
    return cls


def build(settings: NotifierSettings, environ: Mapping[str, str] | None = None) -> BaseNotifier:
    """The notifier of one ``notifiers:`` target (reads its secrets: SecretUnavailable when one is missing)."""
    return notifier_class(settings.kind).from_settings(settings, SecretReader(settings, environ))
