"""Build info and deploy markers: ``parapet_build_info{version, python_version} 1``.

A deploy shows on dashboards as the moment the version label changes, e.g. the Grafana annotation query
``changes(max by (version) (parapet_build_info)[5m:])`` or ``count by (version) (parapet_build_info)``.
"""

from __future__ import annotations

import os
import platform

from prometheus_client import CollectorRegistry

from parapet.metrics.contract import contract

VERSION_ENV = ("PARAPET_BUILD_VERSION", "APP_VERSION", "GIT_SHA", "SOURCE_VERSION")


def build_version() -> str:
    """The version from the environment (PARAPET_BUILD_VERSION, APP_VERSION, GIT_SHA, SOURCE_VERSION) or unknown."""
    for name in VERSION_ENV:
        value = os.environ.get(name)
        if value:
            return value
    return "unknown"


def set_build_info(version: str | None = None, *, registry: CollectorRegistry | None = None) -> str:
    """Publish the running build; call once at start-up (again after a hot reload). Returns the version."""
    version = version or build_version()
    family = contract(registry).build_info
    family.child((version, platform.python_version())).set(1)
    return version
