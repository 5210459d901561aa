"""Parapet: a reliability toolkit for Python web services.

The runtime package. It never imports the ``parapet`` command's toolchain (Typer, Rich, libcst).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("parapet")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
