"""The on_finish hook's process: its own session, stdin empty, its output into a capped file
with secrets cut out, and a deadline after which its group is interrupted, then terminated,
then killed.

Not ``docker.process.run``: that one keeps the output in memory and ends on a cancel, not a
deadline; a hook may print without end, and must be over within its timeout whatever it ignores.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from envctl.log import redact
from envctl.runs.hook_outcome import Ended

OUTPUT_CAP = 1 << 20  # bytes of the hook's output kept; the rest is counted, not written
CHUNK = 1 << 16
# Bytes of a line held back for its end (secrets are cut out of whole lines): a longer one is
# cut at its last blank before this, or else here, and a secret across that cut is not masked.
LINE_CAP = 1 << 16
# (signal, seconds its process group gets to end after it) at the deadline; SIGKILL after the last.
ESCALATION: tuple[tuple[signal.Signals, float], ...] = ((signal.SIGINT, 5.0), (signal.SIGTERM, 5.0))
KILL_WAIT = 5.0  # seconds a SIGKILLed group gets to be gone (a process in the D state may linger)
_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


class LineMasker:
    """The output, line by line, with ``mask`` applied to each whole line: a line's end is held
    back (at most LINE_CAP bytes) until its newline or the output's end."""

    def __init__(self, mask: Callable[[str], str], line_cap: int = LINE_CAP) -> None:
        self.mask, self.line_cap = mask, line_cap
        self.held = b""

    def feed(self, data: bytes) -> bytes:
        """What of ``data`` (after what is held) can be written now, masked."""
        self.held += data
        end = self.held.rfind(b"\n") + 1
        ready, self.held = [self._masked(self.held[:end])], self.held[end:]
        while len(self.held) > self.line_cap:  # a long line: in pieces, each cut at a blank
            blank = max(self.held.rfind(b" ", 0, self.line_cap), self.held.rfind(b"\t", 0, self.line_cap))
            end = blank + 1 if blank >= 0 else self.line_cap
            ready.append(self._masked(self.held[:end]))
            self.held = self.held[end:]
        return b"".join(ready)

    def flush(self) -> bytes:
        """What is held (a last line with no newline), masked."""
        ready, self.held = self.held, b""
        return self._masked(ready)

    def _masked(self, data: bytes) -> bytes:
        # surrogateescape: bytes that are not UTF-8 come back as they were.
        return self.mask(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape") \
            if data else b""


class _Copier(threading.Thread):
    """Copies the process's output into the log file up to ``cap`` bytes, secrets cut out
    (``LineMasker``), then only counts it (so a hook that prints without end is never blocked on a
    full pipe)."""

    def __init__(self, source: int, log_path: Path, cap: int, mask: Callable[[str], str]) -> None:
        super().__init__(daemon=True, name="envctl-hook-output")  # never holds the collector up
        self.source, self.log_path, self.cap = source, log_path, cap
        self.masker = LineMasker(mask)
        self.total = 0

    def run(self) -> None:
        try:
            log = os.open(self.log_path, _LOG_FLAGS, 0o600)
        except OSError:
            log = -1  # the output is still read (and counted), so the hook never blocks on it
        try:
            while chunk := os.read(self.source, CHUNK):
                kept = chunk[:max(0, self.cap - self.total)]
                self.total += len(chunk)
                if kept:
                    _write(log, self.masker.feed(kept))
            cut = f"\n[envctl: {self.total - self.cap} more bytes of the hook's output were not kept]\n"
            _write(log, self.masker.flush() + (cut.encode() if self.total > self.cap else b""))
        finally:
            os.close(self.source)
            if log >= 0:
                os.close(log)


def _write(log: int, data: bytes) -> None:
    if data and log >= 0:
        with contextlib.suppress(OSError):  # a full disk: the hook goes on
            os.write(log, data)


def run_bounded(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log_path: Path,
                timeout: float, cap: int = OUTPUT_CAP,
                escalation: tuple[tuple[signal.Signals, float], ...] = ESCALATION,
                clock: Callable[[], float] = time.monotonic,
                mask: Callable[[str], str] = redact) -> Ended:
    """Run ``argv`` until it and its output end, at most ``timeout`` seconds, then end its group
    by ``escalation``; its output goes to ``log_path`` through ``mask`` line by line (default:
    envctl's secrets cut out). Never raises for the command's sake: what went wrong is in the
    value."""
    began = clock()
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=write_end,
                                stderr=write_end, env=dict(env), cwd=cwd, close_fds=True,
                                start_new_session=True)
    except (OSError, ValueError) as exc:  # no such program, not executable, a NUL in an argument
        os.close(read_end)
        os.close(write_end)
        return Ended(error=f"could not start {argv[0]!r}: {_reason(exc)}", seconds=clock() - began)
    os.close(write_end)  # the hook's group holds the only write ends: the read ends with them
    copier = _Copier(read_end, log_path, cap, mask)
    copier.start()
    timed_out = not _ended(proc, copier, began + timeout, clock)
    if timed_out:
        _escalate(proc, copier, escalation, clock)
    code = proc.returncode
    return Ended(exit_code=code if code is not None and code >= 0 else None,
                 signal=_signal_name(-code) if code is not None and code < 0 else None,
                 timed_out=timed_out, seconds=clock() - began, output_bytes=copier.total,
                 output_cut=max(0, copier.total - cap))


def _ended(proc: subprocess.Popen[bytes], copier: _Copier, deadline: float,
           clock: Callable[[], float]) -> bool:
    """Whether the process exited and its output closed (its children's too) by ``deadline``."""
    try:
        proc.wait(timeout=max(0.0, deadline - clock()))
    except subprocess.TimeoutExpired:
        return False
    copier.join(max(0.0, deadline - clock()))
    return not copier.is_alive()


def _escalate(proc: subprocess.Popen[bytes], copier: _Copier,
              escalation: tuple[tuple[signal.Signals, float], ...], clock: Callable[[], float]) -> None:
    """Signal the hook's group by ``escalation`` while any of it is left, then kill it."""
    for sig, grace in escalation:
        _signal_group(proc.pid, sig)
        if _ended(proc, copier, clock() + grace, clock):
            return
    _signal_group(proc.pid, signal.SIGKILL)
    _ended(proc, copier, clock() + KILL_WAIT, clock)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    # The group outlives its leader while any member lives, and its id is not reused meanwhile.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
