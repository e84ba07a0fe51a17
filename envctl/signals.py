"""Signals as interrupts: SIGTERM (a cancelled CI job, `kill`) and SIGHUP (a closed terminal, a
dropped SSH session) end a command the way Ctrl-C does, so one code path stops a foreground
run, reports a partial summary and exits 128 + the signal's number (130, 143, 129)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class Signalled(KeyboardInterrupt):
    """A SIGTERM or SIGHUP, raised where the main thread is, as Ctrl-C's KeyboardInterrupt is."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def signum_of(exc: KeyboardInterrupt) -> int:
    return exc.signum if isinstance(exc, Signalled) else int(signal.SIGINT)


def exit_code(exc: KeyboardInterrupt) -> int:
    """The shell's convention: 128 + the signal's number."""
    return 128 + signum_of(exc)


def name(exc: KeyboardInterrupt) -> str:
    return NAMES.get(signal.Signals(signum_of(exc)), f"signal {signum_of(exc)}")


def _raise(signum: int, _frame: FrameType | None) -> None:
    raise Signalled(signum)


@contextlib.contextmanager
def as_interrupts() -> Iterator[None]:
    """SIGTERM and SIGHUP raise `Signalled` for as long as this lasts (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # started under nohup: the caller asked for it to be ignored
        previous[signum] = signal.signal(signum, _raise)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Further signals are ignored while this lasts: a second one must not cut a cleanup short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
