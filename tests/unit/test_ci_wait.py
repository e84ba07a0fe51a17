"""`envctl wait --ci` (envctl/ui/ci.py) on run directories in a tmp dir, with the control's wait
and stop faked: heartbeats, the folded log, annotations, the job summary, a cancelled job."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from envctl.errors import EnvctlError, EnvironmentFailedError
from envctl.runs import control, lifecycle
from envctl.runs.state import RunRecord
from envctl.signals import Signalled
from envctl.ui import ci
from tests.unit.run_dirs import OTHER_ID, RUN_ID, make_run


def failing_events(run_dir: Path) -> None:
    """One failed test in the run's (collected) events."""
    (run_dir / "events.jsonl").write_text(
        '{"kind": "result", "nodeid": "t.py::test_a", "outcome": "failed", "message": "boom", '
        '"path": "t.py", "line": 3, "tail": ["E   boom"]}\n')


def test_heartbeat_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One line: the time, the run and its state, elapsed time, done and failed."""
    run_dir = make_run(tmp_path)
    monkeypatch.setattr("envctl.ui.ci.time.time", lambda: 1.0e9 + 75)
    monkeypatch.setattr("envctl.ui.ci.time.strftime", lambda _fmt: "12:00:00")
    line = ci.heartbeat_line(run_dir, RunRecord.load(run_dir))
    assert line == f"envctl: 12:00:00 run {RUN_ID} running 1m15s, 0/? done, 0 failed"


def test_a_long_log_is_echoed_from_its_end(tmp_path: Path) -> None:
    """Past the cap, the echo says where the start is and gives the last bytes."""
    path = tmp_path / "output.log"
    path.write_bytes(b"0123456789")
    expected = f"[envctl: the first 6 bytes are in {path}]\n".encode() + b"6789"
    assert b"".join(ci._log_chunks(path, cap=4)) == expected
    assert list(ci._log_chunks(tmp_path / "missing")) == []


def test_a_ci_wait_reports_for_github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Heartbeats while waiting; then the folded log, an annotation per failure, the summary,
    and pytest's exit code."""
    run_dir = make_run(tmp_path, log=b"::error::from a test\n")
    failing_events(run_dir)
    now = [0.0]
    monkeypatch.setattr("envctl.ui.ci.time.monotonic", lambda: now[0])

    def wait_for(path: Path, **kwargs: Any) -> RunRecord:
        for step in (1.0, 0.5, 2.0):  # beats at 1.0 and 3.5 (heartbeat 2 s), not at 1.5
            now[0] += step
            kwargs["on_tick"](RunRecord.load(path))
        from envctl.runs.outcome import EndFacts  # noqa: PLC0415

        lifecycle.finish(path, EndFacts(exit_code=1))
        return RunRecord.load(path)

    monkeypatch.setattr(control, "wait_for", wait_for)
    monkeypatch.setenv("ENVCTL_CI_ARTIFACT_NAME", "envctl-runs")
    out, summary = io.BytesIO(), tmp_path / "summary.md"
    assert ci.ci_wait(run_dir, heartbeat=2.0, github_actions=True, summary_path=summary, out=out) == 1
    text = out.getvalue().decode()
    assert text.count(f"run {RUN_ID} running") == 2
    assert f"::group::envctl run {RUN_ID}: output" in text
    assert "::error file=t.py,line=3" in text
    assert "Artifact: `envctl-runs`" in summary.read_text()


def test_a_cancelled_job_stops_the_run_and_writes_a_partial_summary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM: the run is stopped with the CI escalation, the summary says it is partial, and
    the exit code is 143."""
    run_dir = make_run(tmp_path)
    stops: list[Any] = []

    def cancelled(_path: Path, **_kwargs: Any) -> RunRecord:
        raise Signalled(15)

    def stop(path: Path, **kwargs: Any) -> RunRecord:
        stops.append(kwargs["escalation"])
        raise EnvctlError("the engine went away")

    monkeypatch.setattr(control, "wait_for", cancelled)
    monkeypatch.setattr(control, "stop", stop)
    out, summary = io.BytesIO(), tmp_path / "summary.md"
    assert ci.ci_wait(run_dir, heartbeat=5.0, github_actions=False, summary_path=summary, out=out) == 143
    assert stops == [ci.CI_STOP]
    text = out.getvalue().decode()
    assert "envctl: job cancelled (SIGTERM): stopping the test run" in text
    assert "envctl: the run is still running; its stop is under way" in text
    assert summary.read_text().startswith("> envctl: the job was cancelled; this summary is partial.")
    assert f"Run directory: `{RUN_ID}`" in summary.read_text()


def test_a_shards_parent_folds_each_shards_log(tmp_path: Path) -> None:
    """A --shards parent: a folded group per shard, named by its shard."""
    parent = make_run(tmp_path, RUN_ID, exit_code=0)
    child = make_run(tmp_path, OTHER_ID, exit_code=0, log=b"shard output\n")
    lifecycle.add_child(parent, OTHER_ID)
    out = io.BytesIO()
    ci._report(parent, RunRecord.load(parent), False, None, out, partial=False)
    assert f"::group::envctl run {RUN_ID}: shard None output ({OTHER_ID})" in out.getvalue().decode()
    assert child.name == OTHER_ID


def test_paths_shown_relative_to_the_repository(tmp_path: Path) -> None:
    """Inside the repository a path is relative to it; outside, inside the run."""
    run_dir = tmp_path / "runs" / RUN_ID
    shown = ci._Shown(run_dir, tmp_path)
    assert shown(run_dir / "output.log") == f"runs/{RUN_ID}/output.log"
    assert shown.where() == f"Run directory: `runs/{RUN_ID}`"
    elsewhere = ci._Shown(run_dir, tmp_path / "repo")
    assert elsewhere(run_dir / "output.log") == f"output.log of run {RUN_ID}"


def test_path_map_without_a_start_file_is_unknown(tmp_path: Path) -> None:
    """A run directory from an artifact has no start.json: no path map."""
    run_dir = make_run(tmp_path)
    assert ci.path_map(run_dir, RunRecord.load(run_dir)) is None


def test_a_failed_up_is_annotated(tmp_path: Path) -> None:
    """An ::error per failed service, and the same in the job summary."""
    out, summary = io.BytesIO(), tmp_path / "summary.md"
    ci.annotate_failed_up(EnvironmentFailedError("db failed", failures=[("db", "exited 1")]), summary, out)
    assert out.getvalue().decode().startswith("::error")
    assert summary.read_text() == "## envctl up failed\n\n- service `db`: exited 1\n"
    ci.annotate_failed_up(EnvironmentFailedError("compose failed"), summary, io.BytesIO())
    assert summary.read_text().endswith("> compose failed\n")


def test_the_job_summary_says_which_failures_are_new(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Against the last run of the same command in the history: a failure that passed then is
    new, one that failed then too is old; the new ones are listed in a section of their own."""
    from envctl.history import HISTORY_FILE, Outcome, command_key, record  # noqa: PLC0415
    from envctl.runs.outcome import EndFacts  # noqa: PLC0415

    run_dir = make_run(tmp_path)
    record(run_dir.parent / HISTORY_FILE, OTHER_ID, command_key(["pytest"]), "",
           [Outcome("t.py::test_a", "passed", 1.0), Outcome("t.py::test_b", "failed", 1.0)], at=1.0)
    (run_dir / "junit.xml").write_text(
        '<testsuites><testsuite>'
        + "".join(f'<testcase classname="t" name="test_{n}" file="t.py" time="1"><failure message="boom {n}">'
                  "x</failure></testcase>" for n in "ab") + "</testsuite></testsuites>")

    def wait_for(path: Path, **_kwargs: Any) -> RunRecord:
        lifecycle.finish(path, EndFacts(exit_code=1))
        return RunRecord.load(path)

    monkeypatch.setattr(control, "wait_for", wait_for)
    summary = tmp_path / "summary.md"
    code = ci.ci_wait(run_dir, heartbeat=2.0, github_actions=False, summary_path=summary, out=io.BytesIO())
    assert code == 1
    lines = summary.read_text().splitlines()
    assert "- `t.py::test_a` (failed, new): `boom a`" in lines
    assert "- `t.py::test_b` (failed, failed in the last run too): `boom b`" in lines
    start = lines.index(f"### New failures (not failing in the last run of this command, `{OTHER_ID}`)")
    assert lines[start + 2:start + 4] == ["- `t.py::test_a`", ""]


def test_memory_in_the_heartbeat_and_a_warning_annotation_near_the_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The heartbeat says the memory and its peak; a peak at 80% of the limit is a ::warning on
    GitHub and a warning in the job summary."""
    from envctl.report.usage import Resources, Usage  # noqa: PLC0415
    from envctl.runs.outcome import EndFacts  # noqa: PLC0415
    from envctl.runs.resource_files import write_resources  # noqa: PLC0415

    run_dir = make_run(tmp_path)
    mib = 1 << 20
    near = Usage(memory=412 * mib, peak=900 * mib, limit=1000 * mib)
    write_resources(run_dir, Resources(at=1.0, test=near))
    monkeypatch.setattr("envctl.ui.ci.time.time", lambda: 1.0e9 + 75)
    monkeypatch.setattr("envctl.ui.ci.time.strftime", lambda _fmt: "12:00:00")
    line = ci.heartbeat_line(run_dir, RunRecord.load(run_dir))
    assert line == (f"envctl: 12:00:00 run {RUN_ID} running 1m15s, 0/? done, 0 failed, "
                    "memory 412 MiB (peak 900 MiB)")

    def wait_for(path: Path, **_kwargs: Any) -> RunRecord:
        lifecycle.finish(path, EndFacts(exit_code=0))
        return RunRecord.load(path)

    monkeypatch.setattr(control, "wait_for", wait_for)
    out, summary = io.BytesIO(), tmp_path / "summary.md"
    assert ci.ci_wait(run_dir, heartbeat=2.0, github_actions=True, summary_path=summary, out=out) == 0
    assert ("::warning title=envctl%3A memory near its limit::the test container's memory peaked at 900 MiB, "
            "90%25 of its 1000 MiB limit\n") in out.getvalue().decode()
    assert ("> **Warning:** the test container's memory peaked at 900 MiB, 90% of its 1000 MiB limit"
            in summary.read_text())
