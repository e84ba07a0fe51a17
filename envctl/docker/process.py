"""A docker CLI process that a stop can end: watched while it runs, and on a cancel
interrupted, then terminated, then killed (as nox's ``popen`` escalates), group and all.

An image build may take up to its 30-minute deadline and `compose run` up to two minutes: a
`envctl stop` in either must be seen within a second, not after them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from envctl.errors import CancelRequestedError

POLL = 0.2  # seconds between two looks at ``cancelled`` while the process runs
# (signal, seconds the process group gets to end after it) on a cancel; SIGKILL after the last.
ESCALATION: tuple[tuple[signal.Signals, float], ...] = (
    (signal.SIGINT, 5.0), (signal.SIGTERM, 5.0))


@dataclass(frozen=True)
class Finished:
    """How a process ended: its code and everything it printed (stdout then stderr)."""

    returncode: int
    output: bytes


def run(argv: Sequence[str], *, cancelled: Callable[[], bool], what: str,
        pass_fds: Sequence[int] = (), poll: float = POLL,
        escalation: tuple[tuple[signal.Signals, float], ...] = ESCALATION) -> Finished:
    """Run ``argv`` (stdin empty, output captured) to its end; when ``cancelled()`` turns true,
    end it and its children by ``escalation`` and raise CancelRequestedError naming ``what``.

    Its own session, so the whole group is signalled (timeout(1), compose, the buildx it runs);
    ``pass_fds`` are handed to it (the start lock: see ``Compose.start_up``)."""
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, pass_fds=tuple(pass_fds),
                            start_new_session=True)
    while True:
        try:  # a retried communicate loses no output (subprocess keeps what it read)
            stdout, stderr = proc.communicate(timeout=poll)
        except subprocess.TimeoutExpired:
            if cancelled():
                _end(proc, escalation)
                raise CancelRequestedError(f"the run was cancelled while {what}") from None
            continue
        return Finished(proc.returncode, (stdout or b"") + (stderr or b""))


def _end(proc: subprocess.Popen[bytes], escalation: tuple[tuple[signal.Signals, float], ...]) -> None:
    """Signal the process group by ``escalation``, each step only while it lives; then kill."""
    for sig, grace in escalation:
        _signal_group(proc, sig)
        try:
            proc.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        return
    _signal_group(proc, signal.SIGKILL)
    proc.communicate()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
