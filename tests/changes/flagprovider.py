"""A small in-memory OpenFeature provider whose flags can be changed at run time: ``set`` changes the
configuration and emits the provider-configuration-changed event with the changed keys, as flagd or a vendor's
provider does when its flags change."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.flag_evaluation import FlagResolutionDetails
from openfeature.provider import AbstractProvider, Metadata

from parapet.evidence import Store


class MemoryProvider(AbstractProvider):
    def __init__(self, flags: Mapping[str, Any], name: str = "memory") -> None:
        super().__init__()
        self.flags = dict(flags)
        self.name = name

    def get_metadata(self) -> Metadata:
        return Metadata(name=self.name)

    def set(self, changes: Mapping[str, Any], message: str | None = None) -> None:
        self.flags.update(changes)
        self.emit_provider_configuration_changed(ProviderEventDetails(flags_changed=sorted(changes), message=message))

    def _resolve(self, key: str, default: Any) -> FlagResolutionDetails[Any]:
        return FlagResolutionDetails(self.flags.get(key, default))

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value)

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        return self._resolve(flag_key, default_value)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[Any] | Mapping[str, Any],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[Any] | Mapping[str, Any]]:
        return self._resolve(flag_key, default_value)


def wait_recorded(store: Store, count: int, timeout: float = 10.0) -> None:
    """OpenFeature runs event handlers on its own thread pool: wait until ``count`` changes are in the store."""
    deadline = time.monotonic() + timeout
    far = datetime(1970, 1, 2, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
    while len(store.changes(since=far[0], until=far[1], limit=500).items) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {count} changes were recorded in {timeout} s")
        time.sleep(0.02)
