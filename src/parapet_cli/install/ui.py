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
from typing import Final

import parapet
from parapet_cli.generators import PlannedFile
from parapet_cli.install.detect import Detection

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


def ui_notes(found: Detection, *, deployment_secret: str | None) -> list[str]:
    secret = deployment_secret or "alertmanager/secrets/parapet-webhook-token"
    notes = [
        f"ui: the webhook at /parapet/webhook takes the bearer token Alertmanager sends: point the app at the "
        f"same file with {TOKEN_ENV}={secret} (one token per line, two while rotating; keep it out of "
        "version control)"
    ]
    if found.framework in ("fastapi", "starlette", "django"):
        notes.append(
            "ui: operators sign in through your app: pass create_app(user_provider=...) a callable that maps "
            "your session's user to a Parapet role (docs/install.md, ui)"
        )
    return notes
