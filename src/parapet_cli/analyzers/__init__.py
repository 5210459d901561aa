"""Static analyzers of the host's Python code that report through the doctor framework."""


def register_checks() -> None:
    """Register every analyzer's checks with the doctor registry (each module registers its own on import)."""
    from parapet_cli.analyzers.cardinality import checks  # noqa: F401
