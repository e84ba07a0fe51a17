"""Steering a run from any shell: take it over, wait for it, stop it. Every wait here has a
deadline in every phase (while the environment starts, while the tests run, while the result is
recorded), and nothing here writes ``run.json``: only the collector does, through the lifecycle.

``take_over`` is the one step that starts a collector for a run whose collector died; the
commands that need a run to reach its end (`wait`, `stop`, a foreground `test`, `logs -f`)
call it. Readers (`status`, `logs`, `runs`, `report`) never do.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

from envctl.errors import DamagedRunError, EnvctlError, WaitTimeoutError
from envctl.runs.spawn import spawn_collector
from envctl.runs.state import RunRecord, RunState, load_shard
from envctl.runs.store import CANCEL_FILE, collector_alive

STOP_ESCALATION = (("SIGINT", 10.0), ("SIGTERM", 5.0), ("SIGKILL", 5.0))
COLLECTOR_START_GRACE = 10.0  # how long a fresh collector may take to take its lock
MAX_FAILED_TAKEOVERS = 3  # collectors that died in a row, the run no further, before giving up
TAKEOVER_WINDOW = 300.0  # seconds: deaths further apart than this are not "in a row"
POLL = 0.05  # seconds between looks at a record while no engine call can wait for us
# Once the container has exited, the record is written within ~0.1 s: looked at more often then,
# so a foreground `envctl test` returns as soon as the result is safe.
ENDING_POLL = 0.01
ENDING_WINDOW = 5.0  # seconds after the exit that ENDING_POLL lasts
DEFAULT_CLEANUP_WAIT = 60.0  # an isolated project's removal (by label, usually < 1 s)

# The clock and the pause of every wait here, looked up at each call: a unit test puts a fake
# clock in their place, so deadlines are checked without waiting for them.
monotonic: Callable[[], float] = time.monotonic
sleep: Callable[[float], None] = time.sleep


def take_over(run_dir: Path) -> bool:
    """Start a collector for the run if it needs one and none holds it; whether one started.

    A --shards parent gets one process for its shards without a collector and itself."""
    record = RunRecord.load(run_dir)
    if record.state.terminal and record.cleaned:
        return False
    if record.children:
        children = [run_dir.parent / child for child in record.children]
        if collector_alive(run_dir):
            return False
        orphans = [c for c in children if not _done(c, record) and not collector_alive(c)]
        return spawn_collector(*orphans, parent=run_dir)
    if collector_alive(run_dir):
        return False
    return spawn_collector(run_dir)


def _done(run_dir: Path, parent: RunRecord) -> bool:
    try:
        record = load_shard(run_dir, parent)  # a shard whose record is gone is lost: done
    except DamagedRunError:
        return False  # unreadable just now: not known to be done
    return record.state.terminal and record.cleaned


class Deadline:
    """A point in time (or none): what is left of it, and the error when it has passed."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.at = None if seconds is None else monotonic() + seconds

    def left(self, cap: float | None = None) -> float | None:
        if self.at is None:
            return cap
        left = max(0.0, self.at - monotonic())
        return left if cap is None else min(left, cap)

    @property
    def passed(self) -> bool:
        return self.at is not None and monotonic() >= self.at

    def check(self, record: RunRecord) -> None:
        if self.passed:
            raise WaitTimeoutError(
                f"run {record.id} is still {record.state.value} after {self.seconds:g}s",
                hint="it goes on; wait again, or `envctl stop` it")


def ended(record: RunRecord) -> bool:
    return record.state.terminal


def wait_for(run_dir: Path, *, timeout: float | None = None, cleaned: bool = True,
             until: Callable[[RunRecord], bool] = ended,
             on_tick: Callable[[RunRecord], None] | None = None) -> RunRecord:
    """Block until the run has an end state (or ``until`` holds) and, with ``cleaned`` (the
    default: a returned run leaves nothing behind), its container and isolated project are gone,
    or raise WaitTimeoutError at ``timeout``, whatever phase the run is in. The removal is waited
    for at most DEFAULT_CLEANUP_WAIT. ``on_tick``: called with the record at least every 0.5 s."""
    deadline = Deadline(timeout)
    take_over(run_dir)
    lost_collector_at: float | None = None
    failed_takeovers, last_state, last_death = 0, None, None
    waiter: _ExitWaiter | None = None
    cleanup: Deadline | None = None
    while True:
        record = RunRecord.load(run_dir)
        if until(record) and (record.cleaned or not cleaned or not record.state.terminal):
            return record
        if record.state.terminal:
            # Ended; its container or project is still being removed. That is bounded too: a
            # cleanup that keeps failing (the engine gone) does not hold the result back.
            cleanup = cleanup or Deadline(DEFAULT_CLEANUP_WAIT)
            if _cleanup_over(run_dir, record, cleanup, deadline):
                return record
        if on_tick is not None:
            on_tick(record)
        deadline.check(record)
        if collector_alive(run_dir) or (record.children and _children_collected(run_dir, record)):
            lost_collector_at = None
        elif lost_collector_at is None:
            lost_collector_at = monotonic()
        elif monotonic() - lost_collector_at > COLLECTOR_START_GRACE:
            # In a row: the run got no further (same state) and the last death was recent.
            recent = last_death is not None and monotonic() - last_death < TAKEOVER_WINDOW
            failed_takeovers = failed_takeovers + 1 if record.state is last_state and recent else 1
            last_state, last_death = record.state, monotonic()
            if failed_takeovers > MAX_FAILED_TAKEOVERS:
                raise _cannot_record(run_dir, record, failed_takeovers - 1)
            take_over(run_dir)  # its collector died while we waited
            lost_collector_at = None
        if record.state in (RunState.RUNNING, RunState.COLLECTING) and record.container is not None \
                and not record.children and waiter is None:
            waiter = _ExitWaiter(record.container, record.engine)  # block on the engine, not on a file poll
        if waiter is not None and not waiter.done.is_set():
            waiter.done.wait(deadline.left(0.5))
        else:
            sleep(deadline.left(ENDING_POLL if _ending(record, waiter) else POLL) or 0.0)


def _cleanup_over(run_dir: Path, record: RunRecord, cleanup: Deadline, deadline: Deadline) -> bool:
    """Whether an ended run's removal is no longer waited for: its time is up (the run has
    ended: that is the answer), or a --shards parent's collector is done and what is left is on
    engines that are gone."""
    if cleanup.passed or deadline.passed:
        return True
    return bool(record.children) and not collector_alive(run_dir) and _left_on_lost_engines(run_dir, record)


def _left_on_lost_engines(run_dir: Path, parent: RunRecord) -> bool:
    """Whether every shard of ``parent`` not yet cleaned ended on an engine that does not
    answer (one of several): nothing can be removed there until it is back."""
    from envctl.runs.reachable import on_a_lost_engine  # noqa: PLC0415

    try:
        left = [c for c in (load_shard(run_dir.parent / child, parent) for child in parent.children)
                if not c.cleaned]
    except DamagedRunError:
        return False
    return bool(left) and all(c.state.terminal and on_a_lost_engine(c) for c in left)


def _cannot_record(run_dir: Path, record: RunRecord, attempts: int) -> EnvctlError:
    """Collectors keep dying with the run where it was: say so (and why, when it is the disk),
    rather than start one more forever."""
    import shutil  # noqa: PLC0415

    why = ""
    try:
        free = shutil.disk_usage(run_dir).free
        if free < 1 << 20:
            why = f"; the disk holding {run_dir} is full ({free} bytes free)"
    except OSError:
        pass
    return EnvctlError(f"run {record.id} cannot be recorded: {attempts} collectors in a row died with "
                       f"it {record.state.value}{why}",
                       hint=f"see {run_dir / 'collector.log'}; free some space and wait again")


def _ending(record: RunRecord, waiter: _ExitWaiter | None) -> bool:
    """Whether the run's record is about to say its end: the container exited moments ago. Only
    for ENDING_WINDOW: a record that takes longer (a cleanup that keeps failing) is looked at at
    the usual pace."""
    exited_at = waiter.exited_at if waiter is not None else None
    return not record.children and exited_at is not None \
        and monotonic() - exited_at < ENDING_WINDOW


def _children_collected(run_dir: Path, record: RunRecord) -> bool:
    return any(collector_alive(run_dir.parent / child) for child in record.children)


class _ExitWaiter:
    """Waits on the engine for the container's exit in a thread the caller need not join."""

    def __init__(self, container: str, host: str | None = None) -> None:
        self.done = threading.Event()
        self.exited_at: float | None = None  # when the engine said it exited (not: gave up)
        self.host = host
        threading.Thread(target=self._wait, args=(container,), daemon=True, name="envctl-exit").start()

    def _wait(self, container: str) -> None:
        from envctl.docker import timeouts  # noqa: PLC0415
        from envctl.docker.engine import Engine  # noqa: PLC0415

        try:
            with Engine(timeout=timeouts.CALL, host=self.host) as engine:
                engine.wait_exit(container)
            self.exited_at = monotonic()
        except EnvctlError:
            pass  # gone, or not created yet: the record says what happened
        finally:
            self.done.set()


def stop(run_dir: Path, escalation: tuple[tuple[str, float], ...] = STOP_ESCALATION,
         record_wait: float = 60.0) -> RunRecord:
    """Cancel the run, in whatever phase it is: ask for the stop (the collector sees it, also
    while the environment is still starting), interrupt, terminate and kill the container if
    there is one, then wait up to ``record_wait`` for the record to say `cancelled`."""
    record = RunRecord.load(run_dir)
    if record.state.terminal:
        return record
    if record.children:  # stop the shards side by side, then wait for the parent
        _stop_all([run_dir.parent / child for child in record.children], escalation, record_wait)
        return _record_within(run_dir, record_wait)
    request_stop(run_dir)
    if record.container is not None:
        escalate(record.container, escalation, host=record.engine)
    return _record_within(run_dir, record_wait)


def request_stop(run_dir: Path) -> None:
    """Ask for the run's stop, at once: its collector stops the container (the same escalation)
    and records `cancelled`, whatever then happens to the process that asked."""
    record = RunRecord.load(run_dir)
    for child in record.children:
        with contextlib.suppress(FileNotFoundError, DamagedRunError):  # gone: it reads lost, nothing to stop
            request_stop(run_dir.parent / child)
    if record.state.terminal or record.children:
        return
    (run_dir / CANCEL_FILE).touch(mode=0o600)
    take_over(run_dir)  # a run with no collector still needs one to record the stop


def _record_within(run_dir: Path, seconds: float) -> RunRecord:
    try:
        return wait_for(run_dir, timeout=seconds)
    except WaitTimeoutError:
        return RunRecord.load(run_dir)


def _stop_all(run_dirs: list[Path], escalation: tuple[tuple[str, float], ...], record_wait: float) -> None:
    errors: list[EnvctlError] = []

    def stop_one(child_dir: Path) -> None:
        try:
            stop(child_dir, escalation, record_wait)
        except (FileNotFoundError, DamagedRunError):
            pass  # a shard whose record is gone has nothing left to stop: the parent reads it lost
        except EnvctlError as exc:
            errors.append(exc)

    stoppers = [threading.Thread(target=stop_one, args=(d,)) for d in run_dirs]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join()
    if errors:
        raise errors[0]


def escalate(container: str, escalation: tuple[tuple[str, float], ...], *,
             host: str | None = None) -> None:
    """Send each signal in turn, until the container exits within the signal's grace."""
    from envctl.docker import timeouts  # noqa: PLC0415
    from envctl.docker.engine import Engine  # noqa: PLC0415

    with Engine(timeout=timeouts.PROMPT, host=host) as engine:
        for signal, grace in escalation:
            if not engine.kill(container, signal):
                return
            try:
                if engine.wait_exit(container, timeout=grace) is not None:
                    return
            except EnvctlError:
                return  # gone: nothing left to stop
