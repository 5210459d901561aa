"""The ``parapet`` command: generators, the plan/apply layer, analyzers and doctor checks."""

from parapet import __version__

__all__ = ["__version__"]
