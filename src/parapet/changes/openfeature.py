"""Feature-flag changes from OpenFeature (``openfeature-sdk``), recorded as system events.

    from parapet.changes.openfeature import track_flag_changes
    stop = track_flag_changes(store, service="shop")      # once, at start-up; stop() unsubscribes

It subscribes to the provider-configuration-changed event (``ProviderEvent.PROVIDER_CONFIGURATION_CHANGED``),
which a provider emits when its flag configuration changes, with the keys of the changed flags in
``flags_changed``. One event becomes one ``flag_change`` system event. Evaluation hooks are not used: they run on
every flag evaluation (thousands a second), not once per change.

A failure to record (the store is down) is logged and swallowed: the provider's event dispatch must never fail
because of Parapet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from parapet.changes import record_flag_change
from parapet.evidence.store import Store

if TYPE_CHECKING:
    from openfeature.event import EventDetails

log = logging.getLogger("parapet.changes.openfeature")


def track_flag_changes(
    store: Store, *, service: str | None = None, actor: str | None = "system:openfeature"
) -> Callable[[], None]:
    """Record every provider-configuration-changed event of the global OpenFeature API; returns the
    function that removes the subscription. ``service``: the service the flags belong to (None: every
    service's incidents see the change)."""
    from openfeature import api
    from openfeature.event import ProviderEvent

    def on_change(details: EventDetails) -> None:
        try:
            record_flag_change(
                store,
                flags=details.flags_changed,
                provider=details.provider_name or None,
                service=service,
                actor=actor,
                message=details.message,
                metadata=details.metadata,
            )
        except Exception:
            log.exception("a flag change from OpenFeature was not recorded")

    api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, on_change)

    def stop() -> None:
        api.remove_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, on_change)

    return stop
