"""A run's deadline on the host: when it falls, how late a run is, and the watch that stops it."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from envctl.runs import deadline as deadline_module
from envctl.runs.deadline import (
    HOST_GRACE,
    RUNNER_GRACES,
    SLACK,
    DeadlineWatch,
    host_deadline,
    overdue,
    refined_deadline,
)
from envctl.runs.outcome import EndFacts, decide
from envctl.runs.state import Limits, RunRecord, RunState

RUNNING = RunRecord(id="r1", project="p", service="test", command=["pytest"],
                    limits=Limits(memory=2 << 30, cpus=2.0, pids=1024), created_at=1000.0,
                    state=RunState.RUNNING, started_at=1010.0, timeout=300.0)


def test_the_host_deadline_is_the_runners_plus_a_grace() -> None:
    """started_at + timeout + HOST_GRACE; none without a timeout or before the start."""
    assert HOST_GRACE == 60.0
    assert host_deadline(RUNNING) == 1370.0
    assert host_deadline(replace(RUNNING, timeout=0.0)) is None
    assert host_deadline(replace(RUNNING, started_at=None)) is None


def test_the_graces_are_the_runners() -> None:
    """The host's figures for the runner are the runner's own (it is mounted, never imported)."""
    from envctl.pytest_plugin import envctl_runner  # noqa: PLC0415
    from envctl.runs import container, deadline  # noqa: PLC0415

    assert deadline.RUNNER_GRACES == envctl_runner.GRACE_INTERRUPT + envctl_runner.GRACE_TERMINATE
    assert container.GATE_WAIT == deadline.GATE_WAIT == envctl_runner.GATE_WAIT


def test_a_running_run_past_it_is_overdue_by_the_seconds_past() -> None:
    """Late by now - deadline; not before it, nor once the run has ended."""
    assert overdue(RUNNING, now=1400.5) == 30.5
    assert overdue(RUNNING, now=1370.0) is None
    assert overdue(replace(RUNNING, state=RunState.PASSED), now=9999.0) is None


def test_a_deadline_already_past_stops_at_once() -> None:
    """A collector taking over a run past its deadline stops the container right away."""
    stopped = threading.Event()
    watch = DeadlineWatch(99.0, stopped.set, clock=lambda: 100.0)
    watch.start()
    assert stopped.wait(5.0) is True
    assert watch.stop() is True


def test_a_run_that_ends_first_is_never_stopped() -> None:
    """Stopped before its deadline: on_passed never runs; no deadline: no thread at all."""
    calls: list[str] = []
    watch = DeadlineWatch(1e12, lambda: calls.append("stop"), clock=lambda: 100.0)
    watch.start()
    assert watch.stop() is False
    never = DeadlineWatch(None, lambda: calls.append("stop"))
    never.start()
    assert (never.stop(), calls) == (False, [])


def test_a_run_the_host_stopped_is_timed_out_not_an_outside_signal() -> None:
    """envctl's own stop at the deadline: timed-out naming the test, even though the engine
    saw a kill (as for a cancel)."""
    outcome = decide(EndFacts(exit_code=137, deadline_passed=True, signalled_from_outside="SIGKILL",
                              running_test="tests/test_a.py::test_slow"))
    assert (outcome.state, outcome.message) == (
        RunState.TIMED_OUT, "the run passed its timeout and envctl stopped it (the runner in the "
        "container had not) while running tests/test_a.py::test_slow")


def test_the_runners_clock_start_tightens_the_deadline_within_bounds() -> None:
    """From the runner's clock start: + timeout + its graces + the slack (30 s), not the 60 s
    bound; the container's word is clamped to [container start, + the gate's wait]."""
    assert refined_deadline(RUNNING, 1011.5) == 1011.5 + 300.0 + RUNNER_GRACES + SLACK
    assert refined_deadline(RUNNING, 0.0) == 1010.0 + 300.0 + 30.0  # no earlier than the start
    assert refined_deadline(RUNNING, 1e12) == host_deadline(RUNNING)  # never past the bound
    assert refined_deadline(RUNNING, None) is None
    assert refined_deadline(replace(RUNNING, timeout=0.0), 1011.0) is None


def test_the_watch_takes_a_tighter_deadline_once_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked until it answers: a deadline already past stops at once; a later one never
    extends the one held."""
    monkeypatch.setattr(deadline_module, "REFINE_EVERY", 0.001)
    answers = iter([None, None, 50.0])
    stopped = threading.Event()
    watch = DeadlineWatch(1e12, stopped.set, clock=lambda: 100.0, refine=lambda: next(answers))
    watch.start()
    assert stopped.wait(5.0) is True
    assert (watch.stop(), watch.deadline, watch.refine) == (True, 50.0, None)
    later = DeadlineWatch(200.0, lambda: None, clock=lambda: 100.0, refine=lambda: 900.0)
    later.start()
    while later.refine is not None:
        threading.Event().wait(0.001)
    assert (later.stop(), later.deadline) == (False, 200.0)
