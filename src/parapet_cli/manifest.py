"""``.parapet/manifest.json``: what Parapet last wrote (path -> sha256), so user edits are never clobbered.

A file on disk whose hash matches the manifest was written by Parapet and not touched since, so it may
be updated; a file that differs from both the manifest and the new content was edited by someone.
Commit the manifest with the generated files: it is deterministic (sorted, no timestamps).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from parapet.errors import ConfigError

MANIFEST_PATH = Path(".parapet") / "manifest.json"
MANIFEST_VERSION = 1


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass
class Manifest:
    path: Path
    files: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> Manifest:
        path = root / MANIFEST_PATH
        if not path.exists():
            return cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            files = raw["files"]
            if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
                raise ValueError("files must map paths to hashes")
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise ConfigError(
                f"{path}: the manifest is unreadable ({exc})",
                hint="restore it from version control, or delete it and re-run with --force",
            ) from None
        return cls(path, dict(files))

    def render(self) -> bytes:
        body = {"version": MANIFEST_VERSION, "files": dict(sorted(self.files.items()))}
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode("utf-8")
