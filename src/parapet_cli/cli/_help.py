"""``--help`` without Python types: every option names its value with a metavar (``<path>``, ``<n>``), and an
argument shows its metavar alone (Typer would add ``<list[str]>``). Every command is built with ``Command``."""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand


class Command(TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, TyperArgument) and param.metavar and hasattr(param, "display_type_rich"):
                param.display_type_rich = _no_type  # type: ignore[method-assign]


def _no_type(*_args: Any, **_kwargs: Any) -> None:
    return None
