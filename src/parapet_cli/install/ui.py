"""``--with ui`` / ``parapet gen ui``: Parapet's web app (webhook, health, operator UI) in the host.

    mount      a codemod (codemods/ui.py) through install's wiring step: ``app.mount("/parapet", ...)`` in a
               FastAPI/Starlette app, ``/parapet`` routed to it in Django's asgi.py; Flask hosts get a note
               (they run ``parapet serve``)
    token      the webhook reads its bearer token from the file Alertmanager sends as ``credentials_file``;
               the plan names that file and the variable that points the app at it
    --eject    copies of the packaged templates under ``templates/parapet/`` beside parapet.yaml, where the
               runtime's loader looks first (``parapet.web.templating``): they go through the plan, so a
               copy edited since is a conflict left alone, never overwritten without ``--force``

The templates are read from the installed ``parapet`` package's files; ``parapet.web`` is not imported
(it needs Starlette, which the toolchain does not).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

import parapet
from parapet_cli.generators import PlannedFile
from parapet_cli.install.detect import Detection

if TYPE_CHECKING:
    from parapet.spec.model import Spec

GENERATOR: Final = "ui"
EJECT_DIR: Final = "templates/parapet"  # parapet.web.templating.EJECT_DIR, beside the spec
TOKEN_ENV: Final = "PARAPET_WEBHOOK_TOKEN_FILE"


def packaged_templates() -> Path:
    return Path(parapet.__file__).parent / "web" / "templates"


def ejected_templates() -> list[PlannedFile]:
    """One planned copy of each packaged template, byte for byte."""
    source = packaged_templates()
    return [
        PlannedFile(f"{EJECT_DIR}/{path.relative_to(source).as_posix()}", path.read_bytes(), GENERATOR)
        for path in sorted(source.rglob("*.html"))
    ]


def ui_notes(found: Detection, spec: Spec | None, root: Path, *, deployment_secret: str) -> list[str]:
    """What the plan says about the web app: where its webhook token comes from, and how users sign in."""
    configured = spec.alertmanager.webhook_token_file if spec is not None else None
    if configured is not None:
        where = configured.relative_to(root).as_posix() if configured.is_relative_to(root) else str(configured)
        notes = [f"ui: the webhook reads its bearer token from {where} (alertmanager.webhook_token_file)"]
    else:
        notes = [
            "ui: the webhook takes the bearer token Alertmanager sends: add to parapet.yaml\n"
            f"    alertmanager:\n      webhook_token_file: {deployment_secret}\n"
            f"  (or set {TOKEN_ENV}); one token per line, two while rotating, kept out of version control"
        ]
    if found.framework in ("fastapi", "starlette", "django"):
        notes.append(
            "ui: operators sign in through your app: pass create_app(user_provider=...) a callable that maps "
            "your session's user to a Parapet role (docs/install.md, ui)"
        )
    return notes
