"""Errors Parapet reports to a user: the whole tree, with the exit code of each (``-``: not a command-line error).

    ParapetError                                -        parapet.errors
    ├── LabelValueError (also ValueError)       -        parapet.metrics.errors
    └── UserError                               exit 3   parapet.errors
        ├── ChangeError                         exit 3   parapet.changes
        ├── ConfigError                         exit 3   parapet.errors
        │   ├── ArchiveOptionError              exit 3   parapet.evidence.archive
        │   ├── BadDuration                     exit 3   parapet.evidence.archive
        │   ├── DatabaseUnavailable             exit 3   parapet.evidence.db
        │   ├── DatabaseUrlError                exit 3   parapet.evidence.db
        │   ├── MetricDefinitionError           exit 3   parapet.metrics.errors
        │   ├── MultiprocessError               exit 3   parapet.metrics.errors
        │   ├── OptionError                     exit 3   parapet.errors
        │   ├── SecretParameterUnavailable      exit 3   parapet.automation.params
        │   ├── SpineMissing                    exit 3   parapet.evidence.db
        │   └── TokenFileError                  exit 3   parapet.web.webhook
        ├── EscalationError                     exit 3   parapet.escalation.core
        │   ├── CannotEscalate                  exit 3   parapet.escalation.core
        │   ├── NoEscalation                    exit 3   parapet.escalation.core
        │   └── StaleEscalation                 exit 3   parapet.escalation.core
        ├── EvidenceError                       exit 3   parapet.evidence.store
        │   ├── ActiveIncidentExists            exit 3   parapet.evidence.store
        │   ├── DeliveryNotFound                exit 3   parapet.alerts.intake
        │   ├── IllegalTransition               exit 3   parapet.evidence.store
        │   ├── IncidentNotFound                exit 3   parapet.evidence.store
        │   ├── InvalidQuery                    exit 3   parapet.evidence.store
        │   └── StaleVersion                    exit 3   parapet.evidence.store
        ├── NotifierError                       exit 3   parapet.notify.base
        │   ├── SecretUnavailable               exit 3   parapet.notify.base
        │   └── UnknownNotifierKind             exit 3   parapet.notify.base
        ├── ReasonRequired                      exit 3   parapet.automation.runs
        ├── SpecError                           exit 3   parapet.errors
        ├── UsageError                          exit 2   parapet.errors
        │   ├── UnknownCheck                    exit 2   parapet_cli.doctor.registry
        │   └── UnknownExtra                    exit 2   parapet_cli.install.extras
        └── WriteRefused                        exit 3   parapet.errors
            └── ArchiveFileError                exit 3   parapet.evidence.archive

A ``UserError`` is rendered once as ``error: …`` and ``hint: …`` (the message names ``file:line:col`` and the field
where known) and the command exits with its ``exit_code``: 0 done, 1 findings or drift (``--check``; not an error),
2 usage (``UsageError``, and Click's own), 3 invalid input or a refused write. ``LabelValueError`` is raised in the
host's code at run time (it is also a ``ValueError``), never by a command.

Anything else that escapes is a bug: the CLI prints one ``error: internal error in …`` line and exits
70 (``EXIT_INTERNAL``); ``PARAPET_DEBUG=1`` adds the plain traceback (never Rich's, whose local variables
could hold a secret). ``tests/cli/test_errors_tree.py`` imports every module and fails when this drawing is not
the real subclass tree: after adding an error class, ``python -m tests.cli.test_errors_tree`` redraws it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h): a bug in Parapet, not in the input


class ParapetError(Exception):
    """Base of every error Parapet raises on purpose."""


class UserError(ParapetError):
    """An error the user can fix; the CLI prints its message and hint and exits with ``exit_code``."""

    exit_code: int = EXIT_INVALID

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        return self.message


@dataclass(frozen=True)
class Location:
    """Where in a file a problem is: 1-based line and column, and the field path."""

    path: Path | None
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def prefix(self) -> str:
        name = str(self.path) if self.path is not None else "<spec>"
        if self.line is not None:
            name += f":{self.line}"
            if self.column is not None:
                name += f":{self.column}"
        return name


class UsageError(UserError):
    """The command line itself is wrong (an unknown check, extra or word): exit 2, as Click's own usage errors."""

    exit_code = EXIT_USAGE


class SpecError(UserError):
    """The spec is invalid. The message names ``file:line:col`` and the field path."""

    def __init__(self, message: str, *, location: Location, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.location = location

    def render(self) -> str:
        field = f" {self.location.field}:" if self.location.field else ""
        return f"{self.location.prefix()}:{field} {self.message}"


class ConfigError(UserError):
    """Configuration or input other than the spec cannot be used."""


class OptionError(ConfigError):
    """An option a caller passed (or left out) cannot be used. The message and hint name options as ``{name}``
    fields (the keyword's name: ``{insecure_local}``); they read as that name, unless a caller with other names
    for them renders the error with ``named``: the CLI passes its flags, so the runtime never spells a flag."""

    def __init__(self, message: str, *, hint: str | None = None, options: tuple[str, ...]) -> None:
        self.template = message
        self.hint_template = hint
        self.options = options
        named = self._fill({})
        super().__init__(named.message, named.hint)

    def named(self, names: Mapping[str, str]) -> ConfigError:
        """The same error with each option spelled as ``names`` has it (an option it lacks keeps its own name)."""
        return self._fill(names)

    def _fill(self, names: Mapping[str, str]) -> ConfigError:
        def fill(text: str) -> str:
            for option in self.options:
                text = text.replace("{" + option + "}", names.get(option, option))
            return text

        return ConfigError(fill(self.template), fill(self.hint_template) if self.hint_template else None)


class WriteRefused(UserError):
    """A write was refused: a file the user edited, or a path that cannot be written."""
