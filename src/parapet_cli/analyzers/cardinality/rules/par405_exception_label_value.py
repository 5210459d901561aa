"""PAR405: a label is set to the text of an exception."""

from __future__ import annotations

from collections.abc import Iterator

from parapet_cli.analyzers.cardinality.model import FileFacts, Index, Kind
from parapet_cli.analyzers.cardinality.rule import Config, Rule, values_of_kind
from parapet_cli.doctor.findings import Finding, Severity


class ExceptionLabelValue(Rule):
    """An exception's message carries ids, paths, timestamps and addresses (``connection to 10.0.3.7:5432
    refused``, ``order 8812 not found``), so its text as a label is a new series for most failures, and it
    comes exactly when things go wrong. The exception's class is bounded by the code and says the same."""

    ID = "PAR405"
    NAME = "exception-label-value"
    TITLE = "A label value is the text of an exception"
    SEVERITY = Severity.ERROR
    MESSAGE = "metric {metric} gets label {label} = {detail}"
    FIX = "use the exception's class name: type(e).__name__"
    VALID = (
        "from prometheus_client import Counter\n"
        'ERRORS = Counter("errors_total", "Errors.", ["error_type"])\n'
        "def run(job):\n    try:\n        job()\n    except Exception as e:\n"
        "        ERRORS.labels(type(e).__name__).inc()\n",
        "from prometheus_client import Counter\n"
        'ERRORS = Counter("errors_total", "Errors.", ["code"])\n'
        "def run(job):\n    try:\n        job()\n    except OSError as e:\n        ERRORS.labels(str(e.errno)).inc()\n",
    )
    INVALID = (
        "from prometheus_client import Counter\n"
        'ERRORS = Counter("errors_total", "Errors.", ["error"])\n'
        "def run(job):\n    try:\n        job()\n    except Exception as e:\n        ERRORS.labels(str(e)).inc()\n",
        "import traceback\nfrom prometheus_client import Counter\n"
        'ERRORS = Counter("errors_total", "Errors.", ["error"])\n'
        "def run(job):\n    try:\n        job()\n    except Exception:\n"
        "        ERRORS.labels(error=traceback.format_exc()).inc()\n",
        "from prometheus_client import Counter\n"
        'ERRORS = Counter("errors_total", "Errors.", ["error"])\n'
        "def run(job):\n    try:\n        job()\n    except ValueError as exc:\n"
        '        ERRORS.labels(f"bad: {exc.args[0]}").inc()\n',
    )

    def check(self, facts: FileFacts, index: Index, config: Config) -> Iterator[Finding]:
        for use, metric, label, value, confidence, cause in values_of_kind(facts, index, Kind.EXCEPTION, config):
            yield self.finding(
                use.site,
                metric=metric,
                label=label,
                detail=f"{value.code}: {value.reason}",
                confidence=confidence,
                cause=cause,
            )
