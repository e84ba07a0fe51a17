"""The on_finish hook: once per run whoever asks, told the run, its outcome in hook.json, its
failure said and never the run's; its command only from the run's start.json."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import pytest

from envctl import log
from envctl.runs import lifecycle
from envctl.runs.hook import run_end_hook, run_hook, summary
from envctl.runs.hook_outcome import HookOutcome, read_outcome
from envctl.runs.state import RECORD_FILE, Counts, Limits, RunRecord, RunState
from envctl.runs.store import HOOK_FILE, START_FILE

RUN_ID = "20260101-000000-abcd"
CHILD_ID = "20260101-000001-abce"
QUICK = ((signal.SIGINT, 0.3), (signal.SIGTERM, 0.3))
# Appends what the hook is told (its ENVCTL_ variables) and where it runs to $OUT, one line a run.
TELL = ("import json, os; open(os.environ['OUT'], 'a').write(json.dumps(dict(sorted("
        "(k, v) for k, v in os.environ.items() if k.startswith('ENVCTL_')), cwd=os.getcwd())) + '\\n')")


def record_of(run_id: str = RUN_ID, *, state: RunState = RunState.FAILED, message: str = "",
              counts: Counts | None = None, **more: object) -> RunRecord:
    """An ended run of 2m10s: 3 failed, 120 passed unless ``counts`` says otherwise."""
    return RunRecord(id=run_id, project="p", service="test", command=["pytest"],
                     limits=Limits(1 << 30, 1.0, 100), state=state, created_at=1.0e9,
                     started_at=1.0e9, finished_at=1.0e9 + 130,
                     pytest_exit=1 if state is RunState.FAILED else None, message=message,
                     counts=counts or Counts(total=123, done=123, passed=120, failed=3), **more)  # type: ignore[arg-type]  # the record's own fields


def run_dir_of(tmp_path: Path, record: RunRecord, start: dict[str, object] | None = None) -> Path:
    path = tmp_path / "runs" / record.id
    path.mkdir(parents=True)
    lifecycle.create(path, record)
    if start is not None:
        (path / START_FILE).write_text(json.dumps(start))
    return path


def told(out: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def test_the_hook_runs_once_however_often_it_is_asked(tmp_path: Path) -> None:
    """A second ask (a collector that took over) starts nothing: hook.json says it was started."""
    path = run_dir_of(tmp_path, record_of())
    out = tmp_path / "out"
    argv = [sys.executable, "-c", TELL]
    first = run_hook(path, RunRecord.load(path), argv, 30.0, environ={"OUT": str(out)})
    second = run_hook(path, RunRecord.load(path), argv, 30.0, environ={"OUT": str(out)})
    assert (first is not None and first.ok, second, len(told(out))) == (True, None, 1)


def test_of_collectors_asking_at_once_one_starts_it(tmp_path: Path) -> None:
    """Four at the same moment: one runs it, three get None (the marker is created exclusively)."""
    path = run_dir_of(tmp_path, record_of())
    out, barrier, got = tmp_path / "out", threading.Barrier(4), []

    def ask() -> None:
        barrier.wait()
        got.append(run_hook(path, RunRecord.load(path), [sys.executable, "-c", TELL], 30.0,
                            environ={"OUT": str(out)}))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (sum(outcome is not None for outcome in got), len(told(out))) == (1, 1)


def test_the_hook_is_told_the_run(tmp_path: Path) -> None:
    """Its id, end state, exit code, folder and a one-line summary, as ENVCTL_ variables."""
    path = run_dir_of(tmp_path, record_of())
    out = tmp_path / "out"
    run_hook(path, RunRecord.load(path), [sys.executable, "-c", TELL], 30.0, cwd=tmp_path,
             environ={"OUT": str(out)})
    assert told(out) == [{"ENVCTL_EXIT_CODE": "1", "ENVCTL_RUN_DIR": str(path), "ENVCTL_RUN_ID": RUN_ID,
                          "ENVCTL_RUN_STATE": "failed",
                          "ENVCTL_SUMMARY": f"run {RUN_ID} failed: 3 failed, 120 passed in 2m10s",
                          "cwd": str(tmp_path)}]


def test_a_failing_hook_is_noted_and_the_run_stands(tmp_path: Path) -> None:
    """Exit 3: hook.json says so, its output is in hook.log, and run.json is byte for byte as
    it was."""
    path = run_dir_of(tmp_path, record_of())
    before = (path / RECORD_FILE).read_bytes()
    outcome = run_hook(path, RunRecord.load(path),
                       [sys.executable, "-c", "print('webhook refused'); raise SystemExit(3)"], 30.0)
    assert outcome is not None
    assert (outcome.finished, outcome.exit_code, outcome.output_bytes, outcome.problem()) == \
        (True, 3, 16, "the on_finish hook failed: exit 3 (see hook.log)")
    assert read_outcome(path) == outcome
    assert (path / "hook.log").read_text() == "webhook refused\n"
    assert (path / RECORD_FILE).read_bytes() == before
    assert (path / HOOK_FILE).stat().st_mode & 0o777 == 0o600


def test_a_hook_past_its_timeout_is_ended_and_said_to_have_timed_out(tmp_path: Path) -> None:
    """One that ignores the interrupt is terminated; hook.json says it timed out."""
    path = run_dir_of(tmp_path, record_of())
    outcome = run_hook(path, RunRecord.load(path), ["sh", "-c", "trap '' INT; sleep 60"], 0.3,
                       escalation=QUICK)
    assert outcome is not None
    assert (outcome.timed_out, outcome.signal, read_outcome(path) == outcome) == (True, "SIGTERM", True)


def test_the_collectors_step_reads_the_hook_from_start_json_and_says_a_failure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The starter's settings give the command, its timeout and its project; it runs in the
    run's folder, its PATH without relative entries nor the project's (a `.venv/bin` the tests
    could fill); a failure is one line of collector.log."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setenv("PATH", f"{project}/.venv/bin::bin:/usr/bin")
    command = "import os; print(os.getcwd(), os.environ['PATH']); raise SystemExit(4)"
    settings = {"on_finish": [sys.executable, "-c", command], "on_finish_timeout": 5.0,
                "project_dir": str(project)}
    path = run_dir_of(tmp_path, record_of(), {"settings": settings})
    outcome = run_end_hook(path)
    assert outcome is not None
    assert (outcome.exit_code, (path / "hook.log").read_text()) == (4, f"{path} /usr/bin\n")
    assert capsys.readouterr().err == \
        f"collector {RUN_ID}: the on_finish hook failed: exit 4 (see hook.log)\n"


def test_a_program_named_by_a_relative_path_is_the_projects(tmp_path: Path) -> None:
    """`./ci/notify.sh` (checked at the start as the project folder's) runs from there, in the
    run's folder."""
    project = tmp_path / "project"
    (project / "ci").mkdir(parents=True)
    (project / "ci" / "notify.sh").write_text('#!/bin/sh\necho "$0 $(pwd)"\n')
    (project / "ci" / "notify.sh").chmod(0o755)
    settings = {"on_finish": ["./ci/notify.sh"], "project_dir": str(project)}
    path = run_dir_of(tmp_path, record_of(), {"settings": settings})
    outcome = run_end_hook(path)
    assert outcome is not None
    assert (outcome.ok, (path / "hook.log").read_text()) == (True, f"{project}/ci/notify.sh {path}\n")


def test_a_parent_runs_its_hook_from_its_first_shards_settings_and_a_shard_runs_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A --shards parent's start.json has no settings: its shards were started with the same.
    A shard's end runs no hook (its parent's is the whole run's)."""
    out = tmp_path / "out"
    monkeypatch.setenv("OUT", str(out))
    settings = {"on_finish": [sys.executable, "-c", TELL], "project_dir": str(tmp_path)}
    parent = run_dir_of(tmp_path, record_of(children=[CHILD_ID]), {"durations_file": "d.json"})
    child = run_dir_of(tmp_path, record_of(CHILD_ID, parent=RUN_ID, shard="1/1"), {"settings": settings})
    assert (run_end_hook(child), (child / HOOK_FILE).exists()) == (None, False)
    outcome = run_end_hook(parent)
    assert outcome is not None
    assert (outcome.ok, [line["ENVCTL_RUN_ID"] for line in told(out)]) == (True, [RUN_ID])


@pytest.mark.parametrize("start", [None, {"settings": {"on_finish": []}}, {"durations_file": "x"}])
def test_no_hook_set_runs_nothing(tmp_path: Path, start: dict[str, object] | None) -> None:
    """No start.json, an empty on_finish, a start.json with no settings: nothing, no hook.json."""
    path = run_dir_of(tmp_path, record_of(), start)
    assert (run_end_hook(path), (path / HOOK_FILE).exists()) == (None, False)


def test_a_run_not_ended_runs_no_hook(tmp_path: Path) -> None:
    """The hook is for a recorded end only."""
    path = run_dir_of(tmp_path, record_of(state=RunState.RUNNING))
    assert (run_hook(path, RunRecord.load(path), ["true"], 5.0), (path / HOOK_FILE).exists()) == (None, False)


def test_a_bad_start_json_is_said_never_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The collector goes on to clean up whatever is wrong with the hook's settings."""
    path = run_dir_of(tmp_path, record_of(), {"settings": {"on_finish": 5}})
    assert run_end_hook(path) is None
    assert capsys.readouterr().err == (f"collector {RUN_ID}: the on_finish hook was not run: ValueError: "
                                       "expected a command, as a string or a list of arguments\n")


def test_a_hook_whose_collector_died_is_not_run_again_and_reads_as_unknown(tmp_path: Path) -> None:
    """hook.json with a start and no outcome (its collector was killed): at most once, so the
    next collector leaves it, and status can say its outcome is unknown."""
    path = run_dir_of(tmp_path, record_of())
    (path / HOOK_FILE).write_text(json.dumps({"started_at": 5.0}))
    out = tmp_path / "out"
    assert run_hook(path, RunRecord.load(path), [sys.executable, "-c", TELL], 5.0,
                    environ={"OUT": str(out)}) is None
    outcome = read_outcome(path)
    assert (outcome, told(out)) == (HookOutcome(started_at=5.0), [])
    assert outcome is not None
    assert outcome.problem() == "the on_finish hook started but its outcome is unknown (its collector died)"


def test_an_outcome_that_cannot_be_written_leaves_the_start(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk at the end: no raise, and hook.json still says the hook started."""
    from envctl.runs import hook  # noqa: PLC0415

    def full(_path: Path, _text: str) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hook, "write_private", full)
    path = run_dir_of(tmp_path, record_of())
    outcome = run_hook(path, RunRecord.load(path), ["true"], 5.0)
    written = read_outcome(path)
    assert outcome is not None
    assert written is not None
    assert (outcome.ok, written.finished) == (True, False)


@pytest.mark.parametrize("text", ["", "not json", '{"started_at": true}', '{"finished": true}', "[1]",
                                  '{"started_at": 1, "exit_code": "0"}'])
def test_a_damaged_hook_json_reads_as_a_start_with_no_outcome(tmp_path: Path, text: str) -> None:
    """Never an error: a hook that started, outcome unknown."""
    (tmp_path / HOOK_FILE).write_text(text)
    assert read_outcome(tmp_path) == HookOutcome(started_at=0.0)


def test_no_hook_json_is_no_hook(tmp_path: Path) -> None:
    """Nothing was started."""
    assert read_outcome(tmp_path) is None


@pytest.mark.parametrize(("outcome", "problem"), [
    (HookOutcome(1.0, finished=True, exit_code=0), None),
    (HookOutcome(1.0, finished=True, exit_code=0, timed_out=True, seconds=60.4),
     "the on_finish hook timed out after 1m00s (see hook.log)"),
    (HookOutcome(1.0, finished=True, signal="SIGKILL"),
     "the on_finish hook failed: ended by SIGKILL (see hook.log)"),
    (HookOutcome(1.0, finished=True, error="could not start 'x': No such file or directory"),
     "the on_finish hook failed: could not start 'x': No such file or directory"),
])
def test_what_a_hook_that_did_not_succeed_says(outcome: HookOutcome, problem: str | None) -> None:
    """One line each: a timeout, a signal, a command that could not start; nothing for success."""
    assert outcome.problem() == problem


def test_the_summary_is_one_line_without_secrets_and_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """envctl's own states add the record's message, on one line, secrets cut out, at most 300
    characters; pytest's numbers in pytest's order."""
    monkeypatch.setattr(log, "_secrets", {"hunter2hunter2"})
    monkeypatch.setattr(log, "_secrets_read", [True])
    timed_out = record_of(state=RunState.TIMED_OUT, message="timed out after 5m\nin test_x hunter2hunter2",
                          counts=Counts(passed=2, skipped=1, errors=1, xfailed=1, flaky=1))
    assert summary(timed_out) == (f"run {RUN_ID} timed-out: 2 passed, 1 skipped, 1 xfailed, 1 error, 1 flaky "
                                  "in 2m10s - timed out after 5m in test_x ***")
    assert summary(record_of(state=RunState.PASSED, counts=Counts(errors=2))) == \
        f"run {RUN_ID} passed: 2 errors in 2m10s"
    assert summary(record_of(state=RunState.NO_TESTS, counts=Counts())) == \
        f"run {RUN_ID} no-tests: no tests ran in 2m10s"
    long = summary(record_of(state=RunState.INFRA_ERROR, message="x" * 1000))
    assert (len(long), long[-4:]) == (300, "x...")



def test_the_summary_escapes_chat_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    """`&`, `<`, `>` as Slack escapes them: a test id in the message cannot ping or link; the
    cap counts the escaped text and never cuts inside an escape."""
    monkeypatch.setattr(log, "_secrets_read", [True])
    pinged = record_of(state=RunState.TIMED_OUT, message="timed out in test_x[<!channel>] & <https://x|fix>")
    assert summary(pinged) == (f"run {RUN_ID} timed-out: 3 failed, 120 passed in 2m10s - timed out in "
                               "test_x[&lt;!channel&gt;] &amp; &lt;https://x|fix&gt;")
    long = summary(record_of(state=RunState.INFRA_ERROR, message="<" * 1000))
    head = f"run {RUN_ID} infra-error: 3 failed, 120 passed in 2m10s - "
    assert (long, len(long)) == (head + "&lt;" * 56 + "...", 297)
