"""Each finished container maps to exactly one documented state and exit code."""

from pathlib import Path

import pytest

from envctl.errors import ExitCode
from envctl.runs import lifecycle
from envctl.runs.outcome import EndFacts, Outcome, decide, decide_parent
from envctl.runs.state import Counts, Limits, RunRecord, RunState


@pytest.mark.parametrize(("code", "state"), [
    (0, RunState.PASSED), (1, RunState.FAILED), (2, RunState.ERROR), (3, RunState.ERROR),
    (4, RunState.ERROR), (5, RunState.NO_TESTS),
])
def test_pytest_codes(code: int, state: RunState) -> None:
    """pytest's own codes map to their states and are kept as the exit code."""
    outcome = decide(EndFacts(exit_code=code, oom_killed=False, cancel_requested=False, timed_out=False))
    assert outcome.state is state
    assert outcome.pytest_exit == code


def test_cancel_beats_everything() -> None:
    """A requested stop is cancelled even though pytest then exits 2."""
    facts = EndFacts(exit_code=2, oom_killed=False, cancel_requested=True, timed_out=False)
    assert decide(facts).state is RunState.CANCELLED


def test_oom_names_the_test() -> None:
    """OOM is oom-killed, with the test that was running."""
    outcome = decide(EndFacts(exit_code=137, oom_killed=True, running_test="t.py::x"))
    assert outcome.state is RunState.OOM_KILLED
    assert "t.py::x" in outcome.message


def test_timeout_needs_the_runners_code_and_marker() -> None:
    """124 with the runner's marker is timed-out; without the marker it is not a pytest code."""
    marked = decide(EndFacts(exit_code=124, oom_killed=False, cancel_requested=False, timed_out=True))
    unmarked = decide(EndFacts(exit_code=124, oom_killed=False, cancel_requested=False, timed_out=False))
    assert marked.state is RunState.TIMED_OUT
    assert unmarked.state is RunState.INFRA_ERROR


@pytest.mark.parametrize("code", [137, 127, 126, 42, -1])
def test_other_codes_are_infrastructure(code: int) -> None:
    """Anything pytest cannot have produced never looks like a test result."""
    outcome = decide(EndFacts(exit_code=code, oom_killed=False, cancel_requested=False, timed_out=False))
    assert outcome.state is RunState.INFRA_ERROR
    assert outcome.pytest_exit is None


def record(state: RunState, pytest_exit: int | None = None) -> RunRecord:
    return RunRecord(id="20260101-000000-abcd", project="p", service="test", command=["pytest"],
                     limits=Limits(1 << 30, 1.0, 100), state=state, pytest_exit=pytest_exit)


@pytest.mark.parametrize(("state", "pytest_exit", "code"), [
    (RunState.PASSED, 0, 0), (RunState.FAILED, 1, 1), (RunState.ERROR, 4, 4), (RunState.NO_TESTS, 5, 5),
    (RunState.OOM_KILLED, None, ExitCode.OOM_KILLED), (RunState.TIMED_OUT, None, ExitCode.TIMED_OUT),
    (RunState.CANCELLED, None, ExitCode.CANCELLED), (RunState.INFRA_ERROR, None, ExitCode.INFRA_ERROR),
    (RunState.LOST, None, ExitCode.LOST), (RunState.RUNNING, None, ExitCode.RUN_ACTIVE),
])
def test_exit_codes(state: RunState, pytest_exit: int | None, code: int) -> None:
    """`envctl wait` exits with pytest's code for pytest outcomes and envctl's otherwise."""
    assert record(state, pytest_exit).exit_code == code


def test_record_round_trips_and_ignores_unknown_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A record saved is the record loaded; keys from a newer envctl are ignored; file is 0600."""
    original = record(RunState.FAILED, 1)
    original.counts = Counts(total=3, done=3, passed=2, failed=1)
    lifecycle.save(tmp_path, original)
    data = (tmp_path / "run.json").read_text()
    (tmp_path / "run.json").write_text(data.replace('"state"', '"future_key": 1, "state"'))
    assert RunRecord.load(tmp_path) == original
    assert oct((tmp_path / "run.json").stat().st_mode & 0o777) == "0o600"


def test_every_state_is_documented() -> None:
    """docs/run-states.md lists each state."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "run-states.md").read_text()
    for state in RunState:
        assert f"`{state.value}`" in text


def shard(k: int, state: RunState, pytest_exit: int | None = None, message: str = "") -> RunRecord:
    child = record(state, pytest_exit)
    child.shard, child.message = f"{k}/3", message
    return child


def test_parent_is_never_better_than_its_worst_shard() -> None:
    """A shard whose pytest exited 1 with a clean JUnit fails the parent, with code 1 (item 3)."""
    outcome = decide_parent([shard(1, RunState.PASSED, 0), shard(2, RunState.FAILED, 1),
                             shard(3, RunState.PASSED, 0)], merged_exit=0)
    assert (outcome.state, outcome.pytest_exit) == (RunState.FAILED, 1)
    assert "shard 2/3" in outcome.message


def test_parent_takes_infrastructure_over_tests() -> None:
    """An OOM-killed shard beats a failing one."""
    outcome = decide_parent([shard(1, RunState.FAILED, 1), shard(2, RunState.OOM_KILLED, message="boom")],
                            merged_exit=1)
    assert outcome.state is RunState.OOM_KILLED
    assert "shard 2/3: oom-killed boom" in outcome.message


def test_a_shard_on_one_of_several_engines_is_named_with_its_engine() -> None:
    """A shard lost with its engine says which engine, so the reader knows where to look."""
    lost = shard(2, RunState.INFRA_ERROR, message="the test container was stopped from outside envctl")
    lost.engine, lost.engine_name = "unix:///run/e2/docker.sock", "e2"
    outcome = decide_parent([shard(1, RunState.PASSED, 0), lost], merged_exit=0)
    assert outcome.state is RunState.INFRA_ERROR
    assert outcome.message == \
        "shard 2/3 on engine e2: infra-error the test container was stopped from outside envctl"


def test_parent_with_an_empty_shard_still_passes() -> None:
    """A shard that had no tests is neutral; all empty is no-tests."""
    assert decide_parent([shard(1, RunState.PASSED, 0), shard(2, RunState.NO_TESTS, 5)], 0).state \
        is RunState.PASSED
    assert decide_parent([shard(1, RunState.NO_TESTS, 5)], None).state is RunState.NO_TESTS


def test_parent_fails_when_the_merged_report_holds_a_failure() -> None:
    """Every shard said 0 but a report holds a failure: failed, not passed."""
    assert decide_parent([shard(1, RunState.PASSED, 0)], merged_exit=1).state is RunState.FAILED


def test_parent_error_keeps_the_worst_code() -> None:
    """pytest broke in a shard: the parent is error with that shard's own code."""
    outcome = decide_parent([shard(1, RunState.ERROR, 4), shard(2, RunState.FAILED, 1)], 1)
    assert (outcome.state, outcome.pytest_exit) == (RunState.ERROR, 4)


@pytest.mark.parametrize("code", [0, 1, 2, 137, 143])
def test_an_exit_as_the_engine_went_away_is_infrastructure(code: int) -> None:
    """Whatever the container's code, an end that came with the engine's loss is infra-error."""
    outcome = decide(EndFacts(exit_code=code, engine_lost=True, running_test="t.py::test_a"))
    assert (outcome.state, outcome.pytest_exit) == (RunState.INFRA_ERROR, None)
    assert outcome.message == (f"the Docker engine went away during the run (stopped or restarted) while "
                               f"running t.py::test_a; the test container's exit {code} is not a test result")


@pytest.mark.parametrize(("code", "session_exit", "state"), [
    (0, 0, RunState.PASSED), (1, 1, RunState.FAILED), (2, 2, RunState.INFRA_ERROR),
    (143, 0, RunState.INFRA_ERROR), (1, None, RunState.INFRA_ERROR)])
def test_a_session_that_ended_by_itself_is_its_result_whatever_the_engine_did(
        code: int, session_exit: int | None, state: RunState) -> None:
    """pytest recorded its own end with the container's code: a loss noted around then (an API
    timeout on a busy engine) does not make it infra-error; an interrupted session (2) does."""
    assert decide(EndFacts(exit_code=code, engine_lost=True, session_exit=session_exit)).state is state


def test_a_signal_the_session_outlived_is_no_infrastructure_failure() -> None:
    """`docker kill -s USR1` (a signal the tests shrugged off): pytest finished its session and
    the container exited with its code, so that is the result."""
    assert decide(EndFacts(exit_code=1, signalled_from_outside="10", session_exit=1)).state is RunState.FAILED


def test_a_container_stopped_from_outside_is_infrastructure() -> None:
    """`docker stop` (or a stopping daemon) made pytest exit 2: infra-error, not `error`; a stop
    envctl was asked for is still `cancelled`."""
    outcome = decide(EndFacts(exit_code=2, signalled_from_outside="15"))
    assert (outcome.state, outcome.pytest_exit) == (RunState.INFRA_ERROR, None)
    assert outcome.message.startswith("the test container was stopped from outside envctl (signal 15")
    assert decide(EndFacts(exit_code=2, signalled_from_outside="2", cancel_requested=True)).state \
        is RunState.CANCELLED


def test_a_parent_whose_shards_reports_are_not_one_run_fails_saying_why() -> None:
    """Every shard passed, but the merge found a test in two shards: failed, with the merge's
    problems as the reason (not "failures its pytest did not report")."""
    problems = ["1 test(s) in more than one shard's report, counted once: t.py::a (shard 1/3, shard 2/3)",
                "no report of shard 3/3: its tests are not in the result"]
    outcome = decide_parent([shard(1, RunState.PASSED, 0), shard(2, RunState.PASSED, 0)], 1, problems)
    assert outcome == Outcome(RunState.FAILED, "every shard passed, but the shards' reports: 1 test(s) in "
                              "more than one shard's report, counted once: t.py::a (shard 1/3, shard 2/3); "
                              "no report of shard 3/3: its tests are not in the result", 1)


def test_the_merges_problems_are_said_whatever_the_state() -> None:
    """A failed or OOM-killed shard decides the state; the problems follow its reason."""
    failed = decide_parent([shard(1, RunState.PASSED, 0), shard(2, RunState.FAILED, 1)], 1, ["p1", "p2"])
    assert (failed.state, failed.message) == (RunState.FAILED, "pytest exited 1 in shard 2/3; the shards' "
                                                               "reports: p1; p2")
    killed = decide_parent([shard(2, RunState.OOM_KILLED, message="boom")], 1, ["p1"])
    assert killed.message == "shard 2/3: oom-killed boom; the shards' reports: p1"
    assert decide_parent([shard(1, RunState.PASSED, 0)], 0).message == "every shard passed"


def test_an_oom_kill_names_the_peak_and_the_limit() -> None:
    """The peak the collector sampled, of the limit the engine applied, after the test."""
    outcome = decide(EndFacts(exit_code=137, oom_killed=True, running_test="t.py::x",
                              memory_peak=(1 << 30) - (1 << 20), memory_limit=1 << 30))
    assert outcome.message == ("the test container ran out of memory and was killed while running t.py::x "
                               "(memory peaked at 1023 MiB of its 1 GiB limit)")
    unsampled = decide(EndFacts(exit_code=137, oom_killed=True, memory_limit=1 << 30))
    assert unsampled.message == "the test container ran out of memory and was killed"


@pytest.mark.parametrize(("code", "state", "exit_code"), [
    (0, RunState.FAILED, 1), (5, RunState.FAILED, 1), (1, RunState.FAILED, 1), (2, RunState.ERROR, 2)])
def test_a_resume_whose_first_part_failed_is_failed(code: int, state: RunState, exit_code: int) -> None:
    """One result for the whole suite: what failed before the resume fails it, however the rest went."""
    outcome = decide(EndFacts(exit_code=code, earlier_failures=2))
    assert (outcome.state, outcome.pytest_exit) == (state, exit_code)
    if code in (0, 5):
        assert outcome.message == f"pytest exited {code}; 2 test(s) failed in the run it resumes"


def test_a_resume_cut_short_again_is_cut_short() -> None:
    """The first part's failures do not hide a resume that timed out too."""
    outcome = decide(EndFacts(exit_code=124, timed_out=True, earlier_failures=1))
    assert outcome.state is RunState.TIMED_OUT


@pytest.mark.parametrize(("code", "session_exit", "state"), [
    (0, 0, RunState.PASSED), (1, 1, RunState.FAILED), (137, None, RunState.TIMED_OUT),
    (137, 2, RunState.TIMED_OUT),
])
def test_a_session_that_ended_by_itself_before_the_deadline_fired_keeps_its_result(
        code: int, session_exit: int | None, state: RunState) -> None:
    """The deadline firing between the container's own exit and the watch's stop is no timeout."""
    assert decide(EndFacts(exit_code=code, deadline_passed=True, session_exit=session_exit)).state is state


def test_a_host_runs_end_is_said_in_its_own_words() -> None:
    """On the host: a killed runner is lost, an OOM names the cgroup, SIGKILL and 127 say 'the tests'."""
    lost = decide(EndFacts(container_gone=True, on_host=True))
    assert (lost.state, lost.message) == (RunState.LOST, "the runner on this machine was killed before the "
                                          "tests' exit was recorded; the results they had written are kept")
    oom = decide(EndFacts(exit_code=137, oom_killed=True, on_host=True, running_test="t.py::big",
                          memory_peak=128 << 20, memory_limit=128 << 20))
    assert (oom.state, oom.message) == (RunState.OOM_KILLED, "the tests ran out of memory (their cgroup's "
                                        "limit) and were killed while running t.py::big (memory peaked at "
                                        "128 MiB of its 128 MiB limit)")
    assert decide(EndFacts(exit_code=137, on_host=True)).message == \
        "the tests were killed (SIGKILL) from outside envctl, not for memory"
    assert decide(EndFacts(exit_code=127, on_host=True)).message == \
        "the test command could not be run on this machine (exit 127)"
