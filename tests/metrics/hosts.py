"""Import the host projects of tests/fixtures/hosts as their servers would (their folder on sys.path)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

HOSTS = Path(__file__).resolve().parent.parent / "fixtures" / "hosts"


def host_dir(project: str) -> Path:
    return HOSTS / project


def import_host(project: str, module: str) -> ModuleType:
    folder = str(host_dir(project))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(module)
