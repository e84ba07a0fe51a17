"""A run's deadline, held on the host as well as in the container.

The runner in the test container enforces `--timeout` with no envctl process alive. It can be
undone from inside: with `init: true` or a tini entrypoint it is not PID 1, and the tests (the
same user) can stop it. So whenever a collector is alive it holds the deadline too, a grace
after the runner would have (the gate, then the runner's interrupt and terminate): past that,
it stops the container as `envctl stop` does, and the run ends `timed-out`. A run found past
that point by `status` or `wait` says so (`wait` starts a collector, which stops it at once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from envctl.runs.state import RunRecord

# The runner's figures (envctl_runner; the host never imports the plugin, and `status` reads this
# module, so they are spelled here and a unit test holds them equal): its gate's wait, and its
# own stop once its timeout passed (interrupt and terminate graces, 10 s + 5 s).
GATE_WAIT = 30.0
RUNNER_GRACES = 15.0
SLACK = 15.0  # seconds for a loaded machine
# Seconds past started_at + timeout before the host steps in, seen from anywhere: the runner's
# clock starts when its gate opens, which may be up to GATE_WAIT after the container's start.
HOST_GRACE = GATE_WAIT + RUNNER_GRACES + SLACK
WAIT_SLICE = 86400.0  # seconds the watch waits at a time (the clock is read again after each)
REFINE_EVERY = 1.0  # seconds between two looks for the runner's clock start, until it is there


def host_deadline(record: RunRecord) -> float | None:
    """When the host stops the run (epoch seconds); None with no timeout or before it started."""
    if record.timeout <= 0 or record.started_at is None:
        return None
    return record.started_at + record.timeout + HOST_GRACE


def refined_deadline(record: RunRecord, runner_started: float | None) -> float | None:
    """The host's deadline from when the runner's clock started (``runner_started``, as the
    container said it): its own stop's graces and the slack after its timeout, rather than the
    gate's whole wait on top. The container's word is clamped to between the container's start
    and the gate's wait after it, so it can neither push the host's deadline past the bound
    (``host_deadline``) nor bring it before the runner could have stopped the tests itself."""
    if runner_started is None or record.timeout <= 0 or record.started_at is None:
        return None
    started = min(max(runner_started, record.started_at), record.started_at + GATE_WAIT)
    return started + record.timeout + RUNNER_GRACES + SLACK


def overdue(record: RunRecord, now: float | None = None) -> float | None:
    """Seconds a running run is past its host deadline (None: not past it, or not running)."""
    deadline = host_deadline(record)
    if deadline is None or record.state.terminal:
        return None
    late = (time.time() if now is None else now) - deadline
    return late if late > 0 else None


class DeadlineWatch:
    """Calls ``on_passed`` once at ``deadline`` (epoch seconds, None: never) unless stopped first;
    ``stop`` says whether it did."""

    def __init__(self, deadline: float | None, on_passed: Callable[[], None],
                 clock: Callable[[], float] = time.time,
                 refine: Callable[[], float | None] | None = None) -> None:
        self.deadline = deadline
        self.on_passed = on_passed
        self.clock = clock
        # Asked every REFINE_EVERY until it gives a deadline, which replaces a later one.
        self.refine = refine
        self.passed = False
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.deadline is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._watch, daemon=True, name="envctl-deadline")
        self._thread.start()

    def _watch(self) -> None:
        assert self.deadline is not None  # noqa: S101  # start() runs this only with one
        while (left := self.deadline - self.clock()) > 0:
            if self.refine is not None:
                left = min(left, REFINE_EVERY)
            if self._stopped.wait(min(left, WAIT_SLICE)):  # a day at most: Event.wait overflows
                return
            if self.refine is not None and (better := self.refine()) is not None:
                self.deadline, self.refine = min(self.deadline, better), None
        if self._stopped.is_set():
            return
        self.passed = True
        self.on_passed()

    def stop(self) -> bool:
        """Stop watching (waiting for a stop under way to finish); whether the deadline passed."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        return self.passed
