"""The plan/apply layer every generator goes through.

``build_plan`` compares each planned file with the disk and the manifest and labels it:

    create     the file does not exist
    identical  the bytes on disk are already the ones wanted
    delete     Parapet wrote the file, no generator produces it any more, and nobody edited it
    update     the file differs, but it is exactly what Parapet last wrote: safe to replace
    conflict   the file differs from what Parapet last wrote: someone edited it (or Parapet never
               wrote it). It is left alone unless --force.

A host's own file that Parapet edits (a codemod's result, a merge into prometheus.yml) is planned with
``host_entry``: create, identical or update from the edit's own idempotent result, never a conflict, and
never in the manifest (it is the host's, not Parapet's). ``Plan.with_entries`` adds such entries to a plan.

``apply_plan`` checks every target is writable first (so a refused write leaves nothing half-done), writes
creates and updates atomically (a temporary file in the same directory, fsync, then rename), skips
conflicts, and refreshes the manifest. ``--check`` and ``--dry-run`` use the same plan without writing.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from parapet.errors import WriteRefused
from parapet_cli.generators import PlannedFile
from parapet_cli.manifest import Manifest, sha256


class Action(StrEnum):
    CREATE = "create"
    IDENTICAL = "identical"
    UPDATE = "update"
    DELETE = "delete"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class PlanEntry:
    file: PlannedFile
    target: Path
    key: str  # the manifest key: the target's path relative to the project root, POSIX style
    action: Action
    current: bytes | None
    forced: bool = False

    orphan: bool = False  # no generator produces this file any more
    tracked: bool = True  # Parapet's own file, recorded in the manifest (a host file edited in place is not)

    @property
    def writes(self) -> bool:
        if self.orphan:
            return False
        return self.action in (Action.CREATE, Action.UPDATE) or (self.action == Action.CONFLICT and self.forced)

    @property
    def deletes(self) -> bool:
        return self.orphan and (self.action == Action.DELETE or (self.action == Action.CONFLICT and self.forced))


@dataclass(frozen=True)
class Plan:
    root: Path
    entries: tuple[PlanEntry, ...]
    manifest: Manifest
    owns: Callable[[str], bool] | None = None

    @property
    def clean(self) -> bool:
        return all(e.action == Action.IDENTICAL for e in self.entries)

    @property
    def conflicts(self) -> list[PlanEntry]:
        return [e for e in self.entries if e.action == Action.CONFLICT and not e.forced]

    def counts(self) -> dict[str, int]:
        out = {a.value: 0 for a in Action}
        for e in self.entries:
            out[e.action.value] += 1
        return out

    def with_entries(self, extra: Iterable[PlanEntry]) -> Plan:
        """The same plan with more entries (host files planned by ``host_entry``), applied together."""
        return replace(self, entries=(*self.entries, *extra))


def _key(root: Path, target: Path) -> str:
    # resolve the directory, not a symlinked file: the key names the path Parapet writes
    try:
        return Path(os.path.relpath(target.parent.resolve() / target.name, root.resolve())).as_posix()
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python before 3.13)
        raise WriteRefused(
            f"cannot write {target}: a symbolic link on the way loops", hint="remove the loop, or pass another --out"
        ) from None


def host_entry(root: Path, path: Path, content: bytes, current: bytes | None, generator: str) -> PlanEntry:
    """A host file Parapet edits in place (or starts): create, identical or update from the edit's own result.
    It is the host's, so it never enters the manifest and a user's edit of it is never a conflict."""
    action = Action.CREATE if current is None else Action.IDENTICAL if content == current else Action.UPDATE
    planned = PlannedFile(path.relative_to(root).as_posix(), content, generator)
    return PlanEntry(planned, path, planned.path, action, current, tracked=False)


def build_plan(
    files: list[PlannedFile],
    out_dir: Path,
    root: Path,
    *,
    force: bool = False,
    owns: Callable[[str], bool] | None = None,
) -> Plan:
    """Label every planned file. ``owns(key)`` tells which files in the manifest this generator answers
    for: those it no longer produces are planned for deletion (or reported as a conflict if edited)."""
    manifest = Manifest.load(root)
    entries: list[PlanEntry] = []
    for planned in files:
        target = out_dir / planned.path
        key = _key(root, target)
        if target.is_dir():
            raise WriteRefused(f"{target} is a directory", hint="move it away, or generate into another directory")
        try:
            current: bytes | None = target.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            current = None
        except OSError as exc:
            raise WriteRefused(f"cannot read {target}: {exc.strerror}", hint="check the file's permissions") from None
        if current is None:
            action = Action.CREATE
        elif current == planned.content:
            action = Action.IDENTICAL
        elif manifest.files.get(key) == sha256(current):
            action = Action.UPDATE
        else:
            action = Action.CONFLICT
        entries.append(PlanEntry(planned, target, key, action, current, forced=force and action == Action.CONFLICT))
    if owns is not None:
        produced = {e.key for e in entries}
        for key, digest in sorted(manifest.files.items()):
            if key in produced or not owns(key):
                continue
            target = root / key
            try:
                current = target.read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                continue  # already gone: apply drops it from the manifest
            action = Action.DELETE if sha256(current) == digest else Action.CONFLICT
            gone = PlannedFile(Path(key).name, b"", "orphan")
            entries.append(
                PlanEntry(gone, target, key, action, current, forced=force and action == Action.CONFLICT, orphan=True)
            )
    return Plan(root, tuple(entries), manifest, owns)


def unified_diff(plan: Plan) -> str:
    """A unified diff of every file the plan changes, with paths relative to the project root (as ``git diff``
    writes them, so ``git apply`` or ``patch -p1`` applies it there)."""
    chunks: list[str] = []
    for e in plan.entries:
        if e.action == Action.IDENTICAL:
            continue
        old = (e.current or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
        new = e.file.content.decode("utf-8").splitlines(keepends=True)
        chunks.extend(
            difflib.unified_diff(
                old,
                new,
                fromfile=f"a/{e.key}" if e.current is not None else "/dev/null",
                tofile="/dev/null" if e.orphan else f"b/{e.key}",
            )
        )
    return "".join(chunks)


def _write_atomic(target: Path, content: bytes) -> None:
    if target.is_symlink():
        target = target.resolve()  # write through a link the user made, keep the link
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            tmp.chmod(target.stat().st_mode & 0o777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _preflight(entry: PlanEntry) -> None:
    """Refuse before anything is written when a target cannot be written."""
    probe = entry.target.parent
    while not probe.exists():
        if probe.is_symlink():
            raise WriteRefused(
                f"cannot write {entry.target}: {probe} is a dangling or looping symbolic link",
                hint="remove the link (or generate into another directory); nothing was written",
            )
        probe = probe.parent
    if not probe.is_dir():
        raise WriteRefused(
            f"cannot write {entry.target}: {probe} is a file, not a directory",
            hint="move that file away (or generate into another directory); nothing was written",
        )
    if not os.access(probe, os.W_OK) or (entry.target.exists() and not os.access(entry.target, os.W_OK)):
        raise WriteRefused(
            f"cannot write {entry.target}: permission denied",
            hint="make it writable (or generate into another directory); nothing was written",
        )


def apply_plan(plan: Plan) -> list[PlanEntry]:
    """Write what the plan says; returns the entries written. Conflicts are skipped (not forced)."""
    for entry in plan.entries:
        if entry.writes:
            _preflight(entry)
    written: list[PlanEntry] = []
    for entry in plan.entries:
        if not entry.writes:
            continue
        try:
            _write_atomic(entry.target, entry.file.content)
        except OSError as exc:
            raise WriteRefused(
                f"cannot write {entry.target}: {exc.strerror or exc}",
                hint="check that the directory exists and is writable"
                + (f"; {len(written)} file(s) were already written" if written else "; nothing was written"),
            ) from None
        written.append(entry)
    for entry in plan.entries:
        if entry.deletes:
            entry.target.unlink(missing_ok=True)
            written.append(entry)
    files = dict(plan.manifest.files)
    for entry in plan.entries:
        if not entry.tracked:
            continue
        if entry.writes or (entry.action == Action.IDENTICAL and not entry.orphan):
            files[entry.key] = sha256(entry.file.content)
        elif entry.deletes:
            files.pop(entry.key, None)
    if plan.owns is not None:
        for key in list(files):
            if plan.owns(key) and not (plan.root / key).exists():
                files.pop(key)  # removed by hand: nothing left to answer for
    if files != plan.manifest.files:
        plan.manifest.files = files
        try:
            _write_atomic(plan.manifest.path, plan.manifest.render())
        except OSError as exc:
            raise WriteRefused(
                f"cannot write {plan.manifest.path}: {exc.strerror or exc}",
                hint="the generated files were written; make .parapet/ writable and re-run",
            ) from None
    return written
