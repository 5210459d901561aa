"""``parapet doctor``: a registry of health checks over the repository, run by one runner, rendered by the CLI.

registry.py   @check(id, name, …, python=, examples=): stable ids, severities, why (the docstring), how to fix,
              the modules a check needs and the small repositories it is proven on
repo.py       the files worth reading, read once (regular files only); unreadable input becomes a PAR000 note
pyindex.py    the host's Python modules (ast, one walk each), only those a check wants, remembered per file
topology/     one parser per deployment format feeding a typed model: every process with its replicas × workers;
              the spec's topology: wins
checks/       one module per check (PAR1xx multi-node, PAR2xx Parapet's configuration, PAR3xx store/rules)
runner.py     run the selected checks, apply suppressions, fingerprint, collect a Report
formats.py    JSON, SARIF 2.1.0 and GitHub annotations
docs.py       docs/checks.md from the registry
"""

from parapet_cli.doctor.findings import Confidence, Finding, Severity
from parapet_cli.doctor.registry import CheckInfo, check
from parapet_cli.doctor.runner import Report, run_doctor

__all__ = ["CheckInfo", "Confidence", "Finding", "Report", "Severity", "check", "run_doctor"]
