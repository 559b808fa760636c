"""Atomic writes leave the old file (folder) or the new one, never a part."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from alignrun.atomic import atomic_write_dir, atomic_write_text


def test_atomic_write_replaces_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]


def test_failed_write_leaves_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.json"
    atomic_write_text(target, "old")

    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def _filler(text: str) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        (folder / "a.txt").write_text(text)

    return write


def test_a_folder_is_published_whole_and_the_last_writer_wins(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "head"
    assert atomic_write_dir(target, _filler("one"))
    (target / "stale.txt").write_text("from the older folder")
    assert atomic_write_dir(target, _filler("two"))
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]  # replaced, not merged
    assert (target / "a.txt").read_text() == "two"
    assert target.stat().st_mode & 0o777 == 0o777 & ~_umask()  # not mkdtemp's private 0700
    assert [p.name for p in target.parent.iterdir()] == ["head"]  # no temp folder left


def test_the_first_writer_wins_a_cache_folder(tmp_path: Path) -> None:
    target = tmp_path / "cache"
    assert atomic_write_dir(target, _filler("first"), replace=False)
    assert not atomic_write_dir(target, _filler("second"), replace=False)
    assert (target / "a.txt").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]


def test_a_failed_folder_write_leaves_the_old_folder(tmp_path: Path) -> None:
    target = tmp_path / "head"
    atomic_write_dir(target, _filler("old"))

    def half(folder: Path) -> None:
        (folder / "a.txt").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_dir(target, half)
    assert (target / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["head"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
