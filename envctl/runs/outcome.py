"""The one place that decides how a run ends: a finished test container's facts, or a --shards
parent's shards, map to exactly one state (docs/run-states.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from envctl.runs.state import PYTEST_STATES, DependencyEvent, RunRecord, RunState

TIMED_OUT_EXIT = 124  # envctl_runner's code for "the run hit its timeout"
SIGKILL_EXIT = 137


@dataclass(frozen=True)
class Outcome:
    state: RunState
    message: str
    pytest_exit: int | None


@dataclass(frozen=True)
class EndFacts:
    """Everything known when a run ends. ``exit_code`` comes only from a container that ran
    and ended; ``infra_error`` says why there is none (no container ever ran, or envctl
    itself failed around it)."""

    exit_code: int | None = None
    oom_killed: bool = False
    cancel_requested: bool = False
    timed_out: bool = False  # the runner's marker is there
    deadline_passed: bool = False  # the collector stopped it at the host's deadline (runs/deadline.py)
    running_test: str | None = None
    container_gone: bool = False  # removed before its exit was recorded
    infra_error: str | None = None
    engine_lost: bool = False  # the engine went away (stopped, restarted) as the container ended
    # pytest's session reached its end by itself with this status (the plugin's "finish" event):
    # with the container's exit the same, the tests ended on their own whatever the engine did.
    session_exit: int | None = None
    signalled_from_outside: str | None = None  # a signal the engine sent it, not asked by envctl
    dependency_events: tuple[DependencyEvent, ...] = field(default_factory=tuple)
    earlier_failures: int = 0  # a resume's: the tests that failed or errored in the run it resumes
    memory_peak: int | None = None  # bytes: the test container's highest memory (runs/resource_watch.py)
    memory_limit: int | None = None  # bytes: its memory limit, as the engine applies it
    on_host: bool = False  # a `test --host` run: the tests ran on this machine, under a runner process


def decide(facts: EndFacts) -> Outcome:  # noqa: PLR0911  # one return per documented state
    """The one state a run ends in. Order matters: what envctl did beats what it caused, and an
    infrastructure failure never reads as a test result."""
    if facts.cancel_requested:
        return Outcome(RunState.CANCELLED,
                       "stopped on request (envctl stop, Ctrl-C or a cancelled job)", None)
    if facts.infra_error is not None:
        return Outcome(RunState.INFRA_ERROR, facts.infra_error, None)
    if facts.container_gone or facts.exit_code is None:
        return Outcome(RunState.LOST, "the runner on this machine was killed before the tests' exit was "
                       "recorded; the results they had written are kept" if facts.on_host else
                       "the test container vanished before its result was recorded", None)
    code = facts.exit_code
    where = f" while running {facts.running_test}" if facts.running_test else ""
    # envctl's own stop, like a cancel: not a signal from outside. A session that finished by
    # itself before the deadline fired (between its exit and the watch's stop) keeps its status.
    if facts.deadline_passed and not _ended_by_itself(facts):
        runner = "the runner on this machine" if facts.on_host else "the runner in the container"
        return Outcome(RunState.TIMED_OUT, f"the run passed its timeout and envctl stopped it ({runner} "
                       f"had not){where}", None)
    if facts.engine_lost and not _ended_by_itself(facts):
        return Outcome(RunState.INFRA_ERROR,
                       f"the Docker engine went away during the run (stopped or restarted){where}; "
                       f"the test container's exit {code} is not a test result", None)
    if facts.signalled_from_outside is not None and not facts.oom_killed and not _ended_by_itself(facts):
        return Outcome(RunState.INFRA_ERROR,
                       f"the test container was stopped from outside envctl (signal "
                       f"{facts.signalled_from_outside}: `docker stop`, or the engine stopping){where}; "
                       f"its exit {code} is not a test result", None)
    if facts.oom_killed:
        what = ("the tests ran out of memory (their cgroup's limit) and were killed" if facts.on_host
                else "the test container ran out of memory and was killed")
        return Outcome(RunState.OOM_KILLED, f"{what}{where}{_peak(facts)}", None)
    if facts.timed_out and code == TIMED_OUT_EXIT:
        return Outcome(RunState.TIMED_OUT, f"the run hit its timeout and was stopped{where}", None)
    broke = "; ".join(event.describe() for event in facts.dependency_events)
    if broke and code != 0:
        return Outcome(RunState.ENV_BROKEN, f"the environment broke under the tests: {broke}",
                       code if code in PYTEST_STATES else None)
    if code in PYTEST_STATES:
        note = f"; note: {broke} (the tests passed regardless)" if broke else ""
        return _pytest_outcome(facts, code, note)
    tests = "the tests" if facts.on_host else "the test container"
    if code == SIGKILL_EXIT:
        return Outcome(RunState.INFRA_ERROR,
                       f"{tests} {'were' if facts.on_host else 'was'} killed (SIGKILL) from outside envctl, "
                       "not for memory", None)
    if code in (126, 127):
        where_run = "on this machine" if facts.on_host else "in the container"
        return Outcome(RunState.INFRA_ERROR,
                       f"the test command could not be run {where_run} (exit {code})", None)
    return Outcome(RunState.INFRA_ERROR,
                   f"{tests} exited {code}, which is not a pytest exit code", None)


def _pytest_outcome(facts: EndFacts, code: int, note: str) -> Outcome:
    """pytest's own outcome. A resume's is the whole suite's: what failed in the run it resumes
    still failed, however its remainder went."""
    state = PYTEST_STATES[code]
    if facts.earlier_failures and state in (RunState.PASSED, RunState.NO_TESTS):
        return Outcome(RunState.FAILED, f"pytest exited {code}{note}; {facts.earlier_failures} "
                       "test(s) failed in the run it resumes", 1)
    return Outcome(state, f"pytest exited {code}{note}", code)


def _peak(facts: EndFacts) -> str:
    """What its memory reached, when it was sampled: `` (memory peaked at 1 GiB of its 1 GiB limit)``."""
    from envctl.report.usage import binary_size  # noqa: PLC0415

    if facts.memory_peak is None:
        return ""
    limit = f" of its {binary_size(facts.memory_limit)} limit" if facts.memory_limit else ""
    return f" (memory peaked at {binary_size(facts.memory_peak)}{limit})"


def _ended_by_itself(facts: EndFacts) -> bool:
    """pytest finished its session and the container exited with its status; an interrupted
    session (2: a stop signal turned into KeyboardInterrupt) does not count."""
    code = facts.session_exit
    return code is not None and code == facts.exit_code and code != 2


# The parent of shards that end differently takes the most serious state: infrastructure beats
# tests, and among test results an error beats a failure beats a pass. A shard with no tests
# (a `-k` that selected none of its share) is neutral unless every shard had none.
SEVERITY = [RunState.LOST, RunState.INFRA_ERROR, RunState.ENV_BROKEN, RunState.OOM_KILLED,
            RunState.TIMED_OUT, RunState.CANCELLED, RunState.ERROR, RunState.FAILED,
            RunState.PASSED, RunState.NO_TESTS]


def decide_parent(children: Sequence[RunRecord], merged_exit: int | None,
                  problems: Sequence[str] = ()) -> Outcome:
    """A --shards parent's end: never better than its worst shard, nor than the merged JUnit
    (``merged_exit``: 1 when it holds a failure or a problem, None when no shard left a
    report). ``problems``: why the shards' reports are not one whole run (a test in two shards,
    a split the shards did not share, a report cut short), said in the message whatever the
    state."""
    if not children:
        return Outcome(RunState.INFRA_ERROR, "the run has no shards", None)
    worst = min((child.state for child in children), key=SEVERITY.index)
    of_worst = [child for child in children if child.state is worst]
    said = f"the shards' reports: {'; '.join(problems)}" if problems else ""
    if not worst.from_pytest:
        message = "; ".join(f"shard {c.shard or c.id}{_on(c)}: {c.state.value} {c.message}".strip()
                            for c in of_worst)
        return Outcome(worst, _joined(message, said), None)
    code = max(c.pytest_exit if c.pytest_exit is not None else 0 for c in of_worst)
    if worst is RunState.PASSED and merged_exit == 1:
        return Outcome(RunState.FAILED, f"every shard passed, but {said}" if said else
                       "a shard's JUnit report holds failures its pytest did not report", 1)
    shards = ", ".join(str(c.shard) for c in of_worst)
    return Outcome(worst, _joined(f"pytest exited {code} in shard {shards}" if worst is not RunState.PASSED
                                  else "every shard passed", said), code)


def _on(child: RunRecord) -> str:
    """`` on engine e2`` for a shard placed on one of several engines."""
    return f" on engine {child.engine_name}" if child.engine_name else ""


def _joined(message: str, more: str) -> str:
    return f"{message}; {more}" if more else message
