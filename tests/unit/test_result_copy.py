"""A result file copied out of the exchange folder under its cap and the disk reserve: cut and
said past the cap, moved when the disk has no room for a copy, said and left when it cannot be."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from envctl.runs import result_copy
from envctl.runs.result_copy import DISK_RESERVE, copy_capped


@pytest.fixture
def source(tmp_path: Path) -> Path:
    (tmp_path / "box").mkdir()
    (tmp_path / "run").mkdir()
    path = tmp_path / "box" / "junit.xml"
    path.write_bytes(b"x" * 100)
    return path


def test_a_file_within_its_cap_is_copied_whole_and_private(source: Path, tmp_path: Path) -> None:
    """A host-owned 0600 copy, the container's file left as it was."""
    dest = tmp_path / "run" / "junit.xml"
    assert copy_capped(source, dest, 100) is None
    assert (dest.read_bytes(), stat.S_IMODE(dest.stat().st_mode)) == (b"x" * 100, 0o600)
    assert dest.stat().st_ino != source.stat().st_ino
    assert sorted(p.name for p in dest.parent.iterdir()) == ["junit.xml"]


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_past_its_cap_a_file_is_cut_there_and_said(source: Path, tmp_path: Path, chunk: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly ``cap`` bytes are kept, whatever the chunk size, and the cut is said."""
    monkeypatch.setattr(result_copy, "COPY_CHUNK", chunk)
    dest = tmp_path / "run" / "junit.xml"
    assert copy_capped(source, dest, 60) == "larger than 60 bytes (0 MiB), cut there"
    assert dest.read_bytes() == b"x" * 60


def test_without_room_for_a_copy_the_file_is_moved(source: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Less than the reserve would be left: the file itself goes into the run dir (no byte
    written), and nothing is said."""
    monkeypatch.setattr(result_copy, "free_bytes", lambda _path: DISK_RESERVE + 99)
    inode = source.stat().st_ino
    dest = tmp_path / "run" / "junit.xml"
    assert copy_capped(source, dest, 100) is None
    assert (dest.stat().st_ino, dest.read_bytes(), source.exists()) == (inode, b"x" * 100, False)


def test_without_room_a_file_past_its_cap_is_refused_and_left(source: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """It cannot be cut without a copy: said, and left in the exchange folder."""
    monkeypatch.setattr(result_copy, "free_bytes", lambda _path: DISK_RESERVE)
    dest = tmp_path / "run" / "junit.xml"
    assert copy_capped(source, dest, 60) == (
        "not copied: 60 bytes would leave less than 1 MiB free, and it is larger than its cap of 60 bytes")
    assert (dest.exists(), source.read_bytes()) == (False, b"x" * 100)


def test_a_copy_that_fails_half_way_leaves_nothing_and_is_said(source: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk filled meanwhile: no partial copy, no temporary file, no exception."""
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    dest = tmp_path / "run" / "junit.xml"
    assert copy_capped(source, dest, 100) == "not copied: No space left on device"
    assert list(dest.parent.iterdir()) == []


def test_a_link_is_refused_and_an_absent_file_is_nothing(source: Path, tmp_path: Path) -> None:
    """A symlink the container left is never followed; no file, nothing to say."""
    link = tmp_path / "box" / "events.jsonl"
    link.symlink_to(source)
    assert copy_capped(link, tmp_path / "run" / "events.jsonl", 100) == "is a symbolic link"
    assert copy_capped(tmp_path / "box" / "none", tmp_path / "run" / "none", 100) is None
    assert list((tmp_path / "run").iterdir()) == []
