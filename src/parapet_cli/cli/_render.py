"""The only place that prints: plans, errors and summaries. Status goes to stderr, data to stdout."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from parapet.errors import OptionError, UserError
from parapet_cli.plan import Action, Plan, PlanEntry

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
stdout = Console(highlight=False, soft_wrap=True)

_STYLE = {
    Action.CREATE: "green",
    Action.IDENTICAL: "dim",
    Action.UPDATE: "yellow",
    Action.DELETE: "magenta",
    Action.CONFLICT: "bold red",
}


def progress_bar() -> Progress:
    """The progress bar long commands draw on stderr (only on a terminal; gone when done)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    )


# The runtime names options by their keyword (parapet.errors.OptionError); the command line spells them as flags.
FLAGS = {
    "insecure_local": "--insecure-local",
    "webhook_token_file": "--webhook-token-file",
    "users_file": "--users-file",
    "networks": "--trusted-proxy",
    "add_user": "parapet users add NAME --role responder --users-file FILE",
    "add_user_as": "parapet users add NAME --role ROLE --users-file FILE",
    "eject": "parapet install --with ui --eject",
}


def error(exc: UserError) -> None:
    shown = exc.named(FLAGS) if isinstance(exc, OptionError) else exc
    problem(shown.render(), shown.hint)


def problem(message: str, hint: str | None) -> None:
    """``error: …`` and ``hint: …`` on stderr; the text is never read as Rich markup."""
    stderr.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)
    if hint:
        stderr.print(Text.assemble(("hint:", "cyan"), " ", hint), highlight=False)


def shown(entry: PlanEntry) -> str:
    """An entry's path as the user can open it: relative to the current directory."""
    return Path(os.path.relpath(entry.target.parent.absolute() / entry.target.name)).as_posix()


def plan(result: Plan, *, verb_prefix: str = "") -> None:
    for entry in result.entries:
        label = entry.action.value
        if entry.forced:
            label = "conflict (forced)"
        style = _STYLE[entry.action]
        line = Text.assemble(verb_prefix, (f"{label:>17}", style), " ", shown(entry))
        stderr.print(line, highlight=False)
    counts = result.counts()
    summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    stderr.print(f"{verb_prefix}{summary or 'nothing to do'}", markup=False)


def plan_json(result: Plan, *, written: list[PlanEntry], diff: str | None = None) -> None:
    body = {
        "files": [
            {"path": shown(e), "action": e.action.value, "forced": e.forced, "generator": e.file.generator}
            for e in result.entries
        ],
        "counts": result.counts(),
        "written": [shown(e) for e in written],
    }
    if diff is not None:
        body["diff"] = diff
    sys.stdout.write(json.dumps(body, indent=2, sort_keys=True) + "\n")


def text(message: str) -> None:
    stdout.print(message, markup=False, highlight=False)


def note(message: str) -> None:
    stderr.print(message, markup=False, highlight=False)
