"""Signals as interrupts: SIGINT (Ctrl-C), SIGTERM (a cancelled CI job, `kill`) and SIGHUP (a
closed terminal, a dropped SSH session) end a command one way: one code path stops a foreground
run, reports a partial summary and exits 128 + the signal's number (130, 143, 129).

`Signalled` is a BaseException but not a KeyboardInterrupt: Typer turns a KeyboardInterrupt into
a silent exit 130, losing which signal it was and the message; this passes through it."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class Signalled(BaseException):  # named for what happened, like KeyboardInterrupt
    """A signal, raised where the main thread is, as Ctrl-C's KeyboardInterrupt is."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


INTERRUPTS = (KeyboardInterrupt, Signalled)  # what a command catches to stop and report


def signum_of(exc: BaseException) -> int:
    return exc.signum if isinstance(exc, Signalled) else int(signal.SIGINT)


def exit_code(exc: BaseException) -> int:
    """The shell's convention: 128 + the signal's number."""
    return 128 + signum_of(exc)


def name(exc: BaseException) -> str:
    return NAMES.get(signal.Signals(signum_of(exc)), f"signal {signum_of(exc)}")


# The import machinery's own modules (frozen or not): a frame of theirs means an import is under way.
_IMPORT_MACHINERY = frozenset({"importlib._bootstrap", "importlib._bootstrap_external"})
REDELIVER_AFTER = 0.02  # seconds; an import takes milliseconds, the docker SDK's ~150 ms at most


def importing(frame: FrameType | None) -> bool:
    """Whether the code at `frame` runs inside an import (a module's top level, or the machinery)."""
    while frame is not None:
        if frame.f_globals.get("__name__") in _IMPORT_MACHINERY:
            return True
        frame = frame.f_back
    return False


def _raise(signum: int, frame: FrameType | None) -> None:
    if importing(frame):
        # An exception raised in the middle of an import leaves the package's half-run modules in
        # sys.modules, and every later import of it fails (CI saw `import docker` during the stop
        # that Ctrl-C asked for fail with asyncio's NameError, a crash instead of exit 130). So the
        # signal waits for the import to end: it is sent again, to the main thread, shortly.
        main = threading.main_thread().ident
        if main is not None:
            later = threading.Timer(REDELIVER_AFTER, _redeliver, (main, signum))
            later.daemon = True
            later.start()
            return
    raise Signalled(signum)


def _redeliver(thread_id: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the process ended meanwhile
        signal.pthread_kill(thread_id, signum)


@contextlib.contextmanager
def as_interrupts() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise `Signalled` while this lasts (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in HANDLED:
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


def by_default() -> None:
    """SIGTERM and SIGHUP end the process at once, as they do any program (a server: `envctl mcp`)."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
