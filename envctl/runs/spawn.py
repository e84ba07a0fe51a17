"""Starting the collector process: one detached process per run (or per --shards run), handed
each run's lock before it exists, so no run is ever without its collector in between."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from envctl.files import ensure_standard_descriptors
from envctl.runs.store import COLLECTOR_LOG, take_collector_lock
from envctl.signals import HANDLED

# Collectors started by this process. Nobody waits for them on purpose (they outlive us), but a
# long-lived caller (the Python API) reaps the finished ones so they leave no zombies behind.
# Plain pids (posix_spawn), not Popen objects: a Popen still running when the caller exits is
# reported as a ResourceWarning, and these are meant to outlive it.
_SPAWNED: list[int] = []
_FORK_ALLOWED = [False]
# What a collector runs, by name (as `python -m` runs it): the collector imports this module's
# callers, so it is never imported from here by name in the code.
COLLECTOR_MODULE = "envctl.runs.collector"


@contextlib.contextmanager
def fork_allowed() -> Iterator[None]:
    """Inside, a collector may be forked from this process rather than started afresh: the
    modules it needs are loaded already, so it reaches `compose run` ~0.1 s sooner. Only a
    short-lived command line asks for it; a server (threads, an event loop, open clients) never."""
    _FORK_ALLOWED[0] = True
    try:
        yield
    finally:
        _FORK_ALLOWED[0] = False


def _may_fork() -> bool:
    # One thread only (a fork copies just the caller; a lock another thread held stays held in
    # the child) and no docker SDK loaded (its pooled connections would be shared with the child).
    return _FORK_ALLOWED[0] and threading.active_count() == 1 and "docker" not in sys.modules \
        and hasattr(os, "fork")


def _reap() -> None:
    alive = []
    for pid in _SPAWNED:
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if done == 0:
            alive.append(pid)
    _SPAWNED[:] = alive


def _inherited() -> list[int]:
    """This process's inheritable descriptors above stderr."""
    found = []
    for fd in _open_descriptors():
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    found.append(fd)
            except OSError:
                continue
    return found


def spawn_collector(*run_dirs: Path, parent: Path | None = None, parent_fd: int | None = None) -> bool:
    """Start one collector for ``run_dirs`` (and, once they have ended, their --shards
    ``parent``) that survives this process, its group and its session. False when every run
    named is already held by a live collector.

    Runs already held by one are left to it; the parent waits for them. One process collects
    many runs in threads, so N shards cost one interpreter, not N. Its output goes to the
    collector.log of the parent, or of the first run.
    ``parent_fd``: the parent's lock, already taken by the caller (handed over, then closed).
    """
    _reap()
    if not run_dirs and parent is None:
        return False
    ensure_standard_descriptors()  # else the log or a lock could be fd 0-2, which the child replaces
    log_dir = parent or run_dirs[0]
    # The log first: nothing below may fail while this process holds locks it has not handed over.
    log = os.open(log_dir / COLLECTOR_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    held = [(run_dir, fd) for run_dir in run_dirs if (fd := take_collector_lock(run_dir)) is not None]
    if parent is not None and parent_fd is None:
        parent_fd = take_collector_lock(parent)
    if not held and parent_fd is None:
        os.close(log)
        return False
    args: list[str] = []
    for run_dir, fd in held:
        args += ["--fd", str(fd), str(run_dir)]
    fds = [fd for _d, fd in held]
    if parent is not None and parent_fd is not None:
        args += ["--parent-fd", str(parent_fd), "--parent", str(parent)]
        fds.append(parent_fd)
    try:
        for fd in fds:
            os.set_inheritable(fd, True)  # handed over: the collector holds these locks from now on
        # A session of its own (setsid): it survives this process, its group and its terminal.
        # Only the handed-over locks reach it: an inherited pipe (a caller's captured output)
        # kept open by the collector would keep that caller waiting until the run ends.
        forked = _fork(args, fds, log) if _may_fork() else None
        if forked is not None:
            _SPAWNED.append(forked)
        else:
            argv = [*_interpreter(), *args]
            closed = [fd for fd in _inherited() if fd not in fds]
            actions: list[tuple[Any, ...]] = [(os.POSIX_SPAWN_CLOSE, fd) for fd in closed]
            actions += [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                        (os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2)]
            # Signals back to their defaults: a collector started during a shielded cleanup (or
            # under nohup) would otherwise inherit SIG_IGN, which survives exec, and never end on
            # SIGTERM.
            _SPAWNED.append(os.posix_spawn(sys.executable, argv, _environment(), setsid=True,
                                           setsigdef=HANDLED, file_actions=actions))
    finally:
        os.close(log)
        for fd in fds:
            os.close(fd)  # the child's copies keep the locks
    return True


def _interpreter() -> list[str]:
    """The collector's command line before its arguments. Never with the current directory on
    its import path, which `python -m` puts first: a test container that can write the project
    folder (a read-write bind mount) would otherwise plant a `shutil.py` there that the host
    process imports."""
    if sys.version_info >= (3, 11):
        return [sys.executable, "-P", "-m", COLLECTOR_MODULE]
    # Python 3.10 has no -P: drop the '' that -c puts first before anything is imported.
    return [sys.executable, "-c", f"import sys; del sys.path[0]; import runpy; "
            f"runpy.run_module({COLLECTOR_MODULE!r}, run_name='__main__', alter_sys=True)"]


def _safe_path(entries: Iterable[str]) -> list[str]:
    """Import path entries without the relative ones ('' and the like): they name the current
    folder, which the tests may write."""
    return [entry for entry in entries if entry and Path(entry).is_absolute()]


def runner_environment() -> dict[str, str]:
    """A `test --host` run's runner gets the collector's environment, cleaned the same way."""
    return _environment()


def _environment() -> dict[str, str]:
    """The collector's environment: ours, with PYTHONPATH's relative entries dropped (an empty
    one, as in `PYTHONPATH=$PYTHONPATH:/x` with nothing before, puts the current folder ahead of
    the standard library, -P or not)."""
    env = dict(os.environ)
    if "PYTHONPATH" in env:
        kept = _safe_path(env["PYTHONPATH"].split(os.pathsep))
        if kept:
            env["PYTHONPATH"] = os.pathsep.join(kept)
        else:
            del env["PYTHONPATH"]
    return env


def _fork(args: list[str], kept: list[int], log: int) -> int | None:
    """The collector as a fork of this process, set up as a fresh one is: its own session, only
    the handed-over locks and the log among its descriptors, stdin from /dev/null, the handled
    signals at their defaults (SIGINT as a fresh interpreter has it), and the current directory
    off its import path."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # None when closed (`>&-`): nothing to write then
            stream.flush()  # else what this process has not written yet is written twice
    # The caller's garbage must never be collected in the child (a finalizer there would close a
    # descriptor the caller still uses): no collection from here until the child has frozen
    # every object it was handed (gc.freeze, as Python's docs advise around a fork). Collecting
    # it all here instead cost ~5-10 ms of every run's start.
    collecting = gc.isenabled()
    # Blocked across the fork: until the child has its own session and handlers, a Ctrl-C or a
    # closed terminal would reach it with the caller's handlers.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        gc.disable()
        pid = os.fork()
    except BaseException as exc:  # this process goes on as it was, whatever came
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        if collecting:
            gc.enable()
        if isinstance(exc, OSError):  # no memory or process slot for a copy: a fresh process may fit
            return None
        raise
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        if collecting:
            gc.enable()
        return pid
    code = 70
    try:
        gc.freeze()  # the caller's objects are never finalized here (they may own its descriptors)
        if collecting:
            gc.enable()
        _become_collector(kept, log, previous)
        import importlib  # noqa: PLC0415

        code = importlib.import_module(COLLECTOR_MODULE).main(args)
    except BaseException:  # the child must never return into the caller's code
        import traceback  # noqa: PLC0415

        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)


def _become_collector(kept: list[int], log: int, mask: Iterable[int]) -> None:
    """In the forked child: everything a fresh collector process would have, before any of it runs."""
    _FORK_ALLOWED[0] = False
    os.setsid()
    for signum in HANDLED:
        signal.signal(signum, signal.SIG_IGN)  # drops one that came while they were blocked
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    keep = {0, 1, 2, *kept}
    for fd in _open_descriptors():
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)
    # `python -m envctl` put the current folder first; an empty PYTHONPATH entry puts '' there.
    entries = list(sys.path)
    if entries and not getattr(sys.flags, "safe_path", False) and entries[0] == str(Path.cwd()):
        entries = entries[1:]
    sys.path[:] = _safe_path(entries)


def _open_descriptors() -> list[int]:
    try:
        return [int(entry.name) for entry in Path("/proc/self/fd").iterdir()]
    except OSError:
        return list(range(3, 1024))
