from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The command line caches facts; keep every test's cache out of the user's home."""
    path = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("PARAPET_CACHE_DIR", str(path))
    return path
