"""``parapet doctor``: a registry of health checks over the repository, run by one runner, rendered by the CLI.

registry.py   @check(id, name, …): stable ids, severities, why (the docstring) and how to fix
repo.py       the files worth reading, read once; unreadable input becomes a PAR000 note, never a crash
pyindex.py    the host's Python modules (ast), imports resolved to qualified names
topology.py   processes, workers and replicas inferred from the repository; the spec's topology: wins
checks/       one module per check (PAR1xx multi-node, PAR2xx Parapet's configuration, PAR3xx store/rules)
runner.py     run the selected checks, apply suppressions, fingerprint, collect a Report
formats.py    JSON, SARIF 2.1.0 and GitHub annotations
docs.py       docs/checks.md from the registry
"""

from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.registry import CheckInfo, check
from parapet_cli.doctor.runner import Report, run_doctor

__all__ = ["CheckInfo", "Confidence", "Finding", "Report", "Severity", "check", "run_doctor"]
