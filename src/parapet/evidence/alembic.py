"""Keep a host's Alembic autogenerate away from Parapet's tables.

In the host's ``env.py``::

    from parapet.evidence.alembic import include_name
    context.configure(connection=connection, target_metadata=target_metadata, include_name=include_name)

Without it, ``alembic revision --autogenerate`` sees tables that are in the database but not in the host's
metadata and proposes dropping them. A host that already has an ``include_name`` can chain it:
``include_name=parapet_include_name(own_filter)``.

This module does not import Alembic: the filter is a plain function Alembic calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from parapet.evidence.schema import TABLE_NAMES

IncludeName = Callable[[str | None, str, Mapping[str, Any]], bool]


def include_name(name: str | None, type_: str, parent_names: Mapping[str, Any]) -> bool:
    """False for Parapet's tables (their columns, indexes and constraints follow the table)."""
    return not (type_ == "table" and name in TABLE_NAMES)


def parapet_include_name(inner: IncludeName | None = None) -> IncludeName:
    """``include_name`` that also consults the host's own filter for everything else."""

    def combined(name: str | None, type_: str, parent_names: Mapping[str, Any]) -> bool:
        if not include_name(name, type_, parent_names):
            return False
        return True if inner is None else inner(name, type_, parent_names)

    return combined
