"""One result file the test container left, copied into the run directory under a size cap and
a disk reserve.

The exchange folder is a bind mount: the container may write there until the disk is full, and
nothing on the host can cap it while it runs. So the cap is enforced here, on what is kept: at
most ``cap`` bytes of a file are copied (the rest is said to be cut). And the copy never takes
the disk the run's record still needs: when copying would leave less than ``DISK_RESERVE`` free,
the file is moved instead (same file system: no byte is written), and when it cannot be moved
either it is refused, said, and left where it is. A copy that fails half-way (the disk filled
meanwhile) leaves nothing behind and is said too; it never raises.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from envctl.files import open_regular

DISK_RESERVE = 1 << 20  # bytes kept free after a copy: the record's last writes (as the log capture keeps)
COPY_CHUNK = 1 << 20


def _free_bytes(path: Path) -> int:
    import shutil  # noqa: PLC0415  # ~3 ms (bz2, lzma): `status` reads through this module, never copies

    return shutil.disk_usage(path).free


# Looked up at each call: a unit test fakes a full disk.
free_bytes: Callable[[Path], int] = _free_bytes


def copy_capped(source_path: Path, dest: Path, cap: int) -> str | None:
    """Copy the regular file ``source_path`` (never a link, a FIFO or a hard link) to ``dest``
    (0600, replaced atomically): None when it is copied whole or absent, else what happened."""
    try:
        source = open_regular(source_path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    with source:
        size = os.fstat(source.fileno()).st_size
        try:
            room = free_bytes(dest.parent) - min(size, cap) >= DISK_RESERVE
        except OSError:
            room = True  # cannot tell: copy, and a failed write says the rest
        if not room:
            return _move(source, source_path, dest, size, cap)
        return _copy(source, dest, cap)


def _copy(source: BinaryIO, dest: Path, cap: int) -> str | None:
    tmp = dest.parent / f".{dest.name}.copy"
    copied = 0
    try:
        with _create_private(tmp) as out:
            while copied <= cap and (chunk := source.read(min(COPY_CHUNK, cap - copied + 1))):
                out.write(chunk[:cap - copied])
                copied += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(dest)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return f"not copied: {exc.strerror or exc}"
    return f"larger than {cap} bytes ({cap >> 20} MiB), cut there" if copied > cap else None


def _move(source: BinaryIO, source_path: Path, dest: Path, size: int, cap: int) -> str | None:
    """No room for a copy: the file itself, if it is within its cap and still the one opened
    (the container has ended: nothing writes it any more)."""
    why = f"not copied: {min(size, cap)} bytes would leave less than {DISK_RESERVE >> 20} MiB free"
    if size > cap:
        return f"{why}, and it is larger than its cap of {cap} bytes"
    opened = os.fstat(source.fileno())
    try:
        found = source_path.lstat()
        if (found.st_dev, found.st_ino) != (opened.st_dev, opened.st_ino):
            return f"{why}, and it changed meanwhile"
        source_path.replace(dest)
    except OSError as exc:
        return f"{why}, and moving it failed: {exc.strerror or exc}"
    with contextlib.suppress(OSError):
        dest.chmod(0o600)  # only when the host user owns it (a root container handed it over)
    return None


def _create_private(path: Path) -> BinaryIO:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    return os.fdopen(fd, "wb")
