"""How a finished test container's facts map to exactly one run state."""

from __future__ import annotations

from dataclasses import dataclass

from envctl.runs.state import PYTEST_STATES, RunState

TIMED_OUT_EXIT = 124  # envctl_runner's code for "the run hit its timeout"
SIGKILL_EXIT = 137


@dataclass(frozen=True)
class Outcome:
    state: RunState
    message: str
    pytest_exit: int | None


def decide(  # noqa: PLR0911  # one return per documented state
    exit_code: int, *, oom_killed: bool, cancel_requested: bool, timed_out: bool,
    running_test: str | None = None,
) -> Outcome:
    """The one state a finished run is in. Order matters: what envctl did beats what it caused."""
    if cancel_requested:
        return Outcome(RunState.CANCELLED, "stopped on request (envctl stop or Ctrl-C)", None)
    if oom_killed:
        where = f" while running {running_test}" if running_test else ""
        return Outcome(RunState.OOM_KILLED,
                       f"the test container ran out of memory and was killed{where}", None)
    if timed_out and exit_code == TIMED_OUT_EXIT:
        where = f" (running {running_test})" if running_test else ""
        return Outcome(RunState.TIMED_OUT, f"the run hit its timeout and was stopped{where}", None)
    if exit_code in PYTEST_STATES:
        return Outcome(PYTEST_STATES[exit_code], f"pytest exited {exit_code}", exit_code)
    if exit_code == SIGKILL_EXIT:
        return Outcome(RunState.INFRA_ERROR,
                       "the test container was killed (SIGKILL) from outside envctl, not for memory",
                       None)
    if exit_code in (126, 127):
        return Outcome(RunState.INFRA_ERROR,
                       f"the test command could not be run in the container (exit {exit_code})", None)
    return Outcome(RunState.INFRA_ERROR,
                   f"the test container exited {exit_code}, which is not a pytest exit code", None)
