"""A cgroup's files as the kernel shows them: one write(2) of a setting, a capped read, the
numbers and keyed lines in them, a cgroup's tree and its removal deepest first, and an OSError
said in a few words. Standard library only: the runner imports it before the tests start.
"""

from __future__ import annotations

import os
from pathlib import Path

READ_CAP = 1 << 20  # bytes of one cgroup file read (cgroup.procs of thousands of processes fits)


def write(path: Path, value: str) -> None:
    """One write(2) of ``value``, as the kernel takes a cgroup setting; never creates the file
    (a setting this kernel lacks is an error, not a new file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def read_text(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.read(READ_CAP).decode("utf-8", "surrogateescape")


def read(paths: list[Path], name: str) -> str | None:
    """The file ``name`` of the first of ``paths`` that has it; None when none does."""
    for path in paths:
        try:
            return read_text(path / name)
        except FileNotFoundError:
            continue
        except OSError:
            return None
    return None


def number(text: str | None) -> int | None:
    """A file's one number; None for "max", nothing, or anything else."""
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def number_list(text: str | None) -> list[int]:
    return [int(word) for word in (text or "").split() if word.isdigit()]


def keyed(text: str | None, key: str) -> int | None:
    """The number on the line ``<key> <number>`` of a flat keyed file (cpu.stat, memory.events)."""
    for line in (text or "").splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == key:
            return number(words[1])
    return None


def words(path: Path) -> set[str]:
    return set((read([path.parent], path.name) or "").split())


def tree(top: Path) -> list[Path]:
    """``top`` and the cgroups below it, deepest first (the order rmdir takes them in)."""
    found: list[Path] = []
    try:
        children = [entry for entry in top.iterdir() if entry.is_dir() and not entry.is_symlink()]
    except OSError:
        children = []
    for child in children:
        found += tree(child)
    return [*found, top]


def rmdir_tree(top: Path) -> OSError | None:
    """rmdir of ``top`` and every cgroup below it; the first failure (gone already is none)."""
    for folder in tree(top):
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError as exc:
            return exc
    return None


def why(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)
