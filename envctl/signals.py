"""Signals as interrupts: SIGINT (Ctrl-C), SIGTERM (a cancelled CI job, `kill`) and SIGHUP (a
closed terminal, a dropped SSH session) end a command one way: one code path stops a foreground
run, reports a partial summary and exits 128 + the signal's number (130, 143, 129).

`Signalled` is a BaseException but not a KeyboardInterrupt: Typer turns a KeyboardInterrupt into
a silent exit 130, losing which signal it was and the message; this passes through it."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
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


# The import machinery's modules, by the names their frames carry: frozen (before anything
# imports `importlib`, which renames them) or not. A frame of theirs means an import is under way.
_IMPORT_MACHINERY = frozenset({"importlib._bootstrap", "importlib._bootstrap_external",
                               "_frozen_importlib", "_frozen_importlib_external"})
REDELIVER_AFTER = 0.02  # seconds; an import takes milliseconds, the docker SDK's ~150 ms at most
DEFER_AT_MOST = 0.5  # seconds a signal waits for imports; past it, it is raised where it lands


class _Owed:
    """A signal that came during an import and is still to be raised (one at a time)."""

    signum: int | None = None
    since = 0.0


_OWED = _Owed()


def importing(frame: FrameType | None) -> bool:
    """Whether the code at `frame` runs inside an import (a module's top level, or the machinery)."""
    while frame is not None:
        if frame.f_globals.get("__name__") in _IMPORT_MACHINERY:
            return True
        frame = frame.f_back
    return False


def _raise(signum: int, frame: FrameType | None) -> None:
    owed = _OWED.signum
    first = owed is None
    if owed is not None:
        signum = owed  # the first of them is the one raised
    main = threading.main_thread().ident
    if importing(frame) and main is not None and (first or time.monotonic() - _OWED.since < DEFER_AT_MOST):
        # An exception raised in the middle of an import leaves the package's half-run modules in
        # sys.modules, and every later import of it fails (CI saw `import docker` during the stop
        # that Ctrl-C asked for fail with asyncio's NameError, a crash instead of exit 130). So the
        # signal waits for the import to end: it is sent again, to the main thread, shortly, and
        # if the command ends first, as_interrupts raises it on the way out.
        if first:
            _OWED.signum, _OWED.since = signum, time.monotonic()
        later = threading.Timer(REDELIVER_AFTER, _redeliver, (main, signum))
        later.daemon = True
        later.start()
        return
    _OWED.signum = None
    raise Signalled(signum)


def _redeliver(thread_id: int, signum: int) -> None:
    if _OWED.signum != signum:
        return  # raised meanwhile (by another delivery, or on the way out)
    with contextlib.suppress(ProcessLookupError):  # the process ended meanwhile
        signal.pthread_kill(thread_id, signum)


@contextlib.contextmanager
def as_interrupts() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise `Signalled` while this lasts (main thread only); one
    that came during an import and is still owed is raised on the way out."""
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
    except BaseException:
        _OWED.signum = None  # something (maybe that very signal) is on its way out already
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    owed, _OWED.signum = _OWED.signum, None
    if owed is not None:
        raise Signalled(owed)


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
