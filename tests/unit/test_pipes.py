"""Streams that outlive their reader (envctl/ui/pipes.py): a closed pipe silences the stream, is
never raised, and leaves a command's own exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envctl.ui.pipes import Outliving, outlive_readers


class Broken:
    """A stream whose every write and flush meets a closed pipe, with no descriptor to silence."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, _data: Any) -> int:
        self.writes += 1
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_write_to_a_closed_pipe_is_dropped_and_the_rest_too() -> None:
    """The first failed write is not raised; later writes are dropped without trying again."""
    broken = Broken()
    stream = Outliving(broken)
    assert stream.write("line\n") == 5
    assert stream.write("more\n") == 5
    stream.flush()
    assert broken.writes == 1


def test_the_closed_pipes_descriptor_goes_to_dev_null() -> None:
    """Text and binary layers of one closed pipe: the descriptor is /dev/null afterwards, so
    whoever else holds it (a logger kept the stream) writes without error too."""
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "w", buffering=1, encoding="utf-8") as raw:
        stream = Outliving(raw)
        stream.buffer.write(b"x" * 100_000)  # over the pipe's size: the write meets the closed end
        assert Path(f"/proc/self/fd/{write}").samefile(os.devnull)
        print("after", file=raw)  # the stream itself, around the wrapper
        stream.write("text too\n")
        stream.flush()


@pytest.mark.parametrize("stdout_too", [False, True])
def test_a_command_keeps_its_exit_code_when_its_readers_leave(stdout_too: bool) -> None:
    """`envctl test | head` and `2>&1 | head`: a process that outlives its readers writes 1 MB
    and a summary into closed pipes and still leaves with its own code (3), not 0 or 1."""
    script = ("import sys\nfrom envctl.ui.pipes import outlive_readers\nfrom envctl.boundary import leave\n"
              "outlive_readers()\nsys.stdout.buffer.write(b'x' * 1_000_000)\n"
              "print('summary', file=sys.stderr)\nprint('more')\nleave(3)\n")
    read, write = os.pipe()
    os.close(read)  # the reader left before the first byte
    try:
        done = subprocess.run([sys.executable, "-c", script], stdout=write,
                              stderr=write if stdout_too else subprocess.DEVNULL, timeout=60, check=False)
    finally:
        os.close(write)
    assert done.returncode == 3


def test_readers_are_outlived_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Called twice, the streams are wrapped once; what they are is still said (isatty...)."""
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    outlive_readers()
    first = sys.stdout
    outlive_readers()
    assert sys.stdout is first
    assert isinstance(sys.stderr, Outliving)
    assert sys.stdout.isatty() is False
