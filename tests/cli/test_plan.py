"""``parapet_cli.plan``, the layer every generator and ``install`` write through: the five labels, the manifest,
host files edited in place, atomic writes, and refusals that leave the tree as it was."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from parapet.errors import WriteRefused
from parapet_cli.generators import PlannedFile
from parapet_cli.manifest import MANIFEST_PATH, sha256
from parapet_cli.plan import Action, apply_plan, build_plan, host_entry, unified_diff
from tests.conftest import tree_hash


def files(**content: str) -> list[PlannedFile]:
    return [PlannedFile(name.replace("__", "/"), text.encode(), "test") for name, text in content.items()]


def manifest(root: Path) -> dict[str, str]:
    return dict(json.loads((root / MANIFEST_PATH).read_text())["files"])


def actions(plan) -> dict[str, Action]:  # type: ignore[no-untyped-def]
    return {e.key: e.action for e in plan.entries}


def test_create_then_identical(tmp_path: Path) -> None:
    plan = build_plan(files(a="1\n", sub__b="2\n"), tmp_path / "out", tmp_path)
    assert actions(plan) == {"out/a": Action.CREATE, "out/sub/b": Action.CREATE}
    assert [e.key for e in apply_plan(plan)] == ["out/a", "out/sub/b"]
    assert (tmp_path / "out/sub/b").read_text() == "2\n"
    assert manifest(tmp_path) == {"out/a": sha256(b"1\n"), "out/sub/b": sha256(b"2\n")}
    again = build_plan(files(a="1\n", sub__b="2\n"), tmp_path / "out", tmp_path)
    assert again.clean and apply_plan(again) == []


def test_update_only_what_parapet_wrote(tmp_path: Path) -> None:
    apply_plan(build_plan(files(a="1\n", b="1\n"), tmp_path, tmp_path))
    (tmp_path / "b").write_text("edited by hand\n")
    plan = build_plan(files(a="2\n", b="2\n"), tmp_path, tmp_path)
    assert actions(plan) == {"a": Action.UPDATE, "b": Action.CONFLICT}
    assert [e.key for e in plan.conflicts] == ["b"]
    apply_plan(plan)
    assert (tmp_path / "a").read_text() == "2\n" and (tmp_path / "b").read_text() == "edited by hand\n"
    assert manifest(tmp_path)["b"] == sha256(b"1\n")  # still what Parapet last wrote
    forced = build_plan(files(a="2\n", b="2\n"), tmp_path, tmp_path, force=True)
    assert [e.forced for e in forced.entries] == [False, True]
    apply_plan(forced)
    assert (tmp_path / "b").read_text() == "2\n" and manifest(tmp_path)["b"] == sha256(b"2\n")


def test_a_file_parapet_never_wrote_is_a_conflict(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("mine\n")
    plan = build_plan(files(a="theirs\n"), tmp_path, tmp_path)
    assert actions(plan) == {"a": Action.CONFLICT}
    apply_plan(plan)
    assert (tmp_path / "a").read_text() == "mine\n"


def test_orphans_are_deleted_only_when_owned_and_untouched(tmp_path: Path) -> None:
    apply_plan(build_plan(files(old="1\n", kept="1\n", other="1\n"), tmp_path, tmp_path))
    (tmp_path / "kept").write_text("edited\n")

    def owns(key: str) -> bool:
        return key in ("old", "kept")

    plan = build_plan(files(new="1\n"), tmp_path, tmp_path, owns=owns)
    assert actions(plan) == {"new": Action.CREATE, "old": Action.DELETE, "kept": Action.CONFLICT}
    apply_plan(plan)
    assert not (tmp_path / "old").exists() and (tmp_path / "kept").exists() and (tmp_path / "other").exists()
    assert sorted(manifest(tmp_path)) == ["kept", "new", "other"]
    diff = unified_diff(build_plan(files(new="1\n"), tmp_path, tmp_path, owns=owns))
    assert "--- a/kept" in diff and "+++ /dev/null" in diff


def test_host_files_never_enter_the_manifest(tmp_path: Path) -> None:
    host = tmp_path / "settings.py"
    host.write_text("A = 1\n")
    edited = host_entry(tmp_path, host, b"A = 1\nB = 2\n", host.read_bytes(), "wiring")
    same = host_entry(tmp_path, host, b"A = 1\n", host.read_bytes(), "wiring")
    new = host_entry(tmp_path, tmp_path / "prometheus.yml", b"x: 1\n", None, "starter")
    assert (edited.action, same.action, new.action) == (Action.UPDATE, Action.IDENTICAL, Action.CREATE)
    plan = build_plan(files(rules="r\n"), tmp_path, tmp_path).with_entries([edited, new])
    assert [e.key for e in apply_plan(plan)] == ["rules", "settings.py", "prometheus.yml"]
    assert host.read_text() == "A = 1\nB = 2\n"
    assert manifest(tmp_path) == {"rules": sha256(b"r\n")}
    (tmp_path / "prometheus.yml").write_text("x: 2\n")  # the host's own edit is no conflict
    assert host_entry(tmp_path, tmp_path / "prometheus.yml", b"x: 3\n", b"x: 2\n", "config").action == Action.UPDATE


def test_a_refused_write_leaves_the_tree_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory is wanted\n")
    plan = build_plan(files(a="1\n", blocker__b="2\n"), tmp_path, tmp_path)
    before = tree_hash(tmp_path)
    with pytest.raises(WriteRefused, match="is a file, not a directory") as info:
        apply_plan(plan)
    assert "nothing was written" in (info.value.hint or "")
    assert tree_hash(tmp_path) == before


def test_a_directory_where_a_file_goes_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    with pytest.raises(WriteRefused, match="is a directory"):
        build_plan(files(a="1\n"), tmp_path, tmp_path)


def test_symbolic_link_loops_and_dangling_links_are_refused(tmp_path: Path) -> None:
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    with pytest.raises(WriteRefused, match="loops"):
        build_plan(files(a="1\n"), tmp_path / "loop1", tmp_path)
    (tmp_path / "gone").symlink_to("nowhere")
    plan = build_plan(files(a="1\n"), tmp_path / "gone", tmp_path)
    with pytest.raises(WriteRefused, match="dangling or looping"):
        apply_plan(plan)
    assert not (tmp_path / "nowhere").exists()


def test_writes_through_a_link_the_user_made(tmp_path: Path) -> None:
    apply_plan(build_plan(files(a="1\n"), tmp_path, tmp_path))
    real = tmp_path / "real"
    os.replace(tmp_path / "a", real)
    (tmp_path / "a").symlink_to("real")
    apply_plan(build_plan(files(a="2\n"), tmp_path, tmp_path))
    assert (tmp_path / "a").is_symlink() and real.read_text() == "2\n"


def test_atomic_write_keeps_the_mode_and_leaves_no_temporary(tmp_path: Path) -> None:
    apply_plan(build_plan(files(a="1\n"), tmp_path, tmp_path))
    (tmp_path / "a").chmod(0o640)
    apply_plan(build_plan(files(a="2\n"), tmp_path, tmp_path))
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == [".parapet", "a"]
