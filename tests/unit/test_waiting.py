"""`envctl wait --timeout`: one line of progress and exit 25 while the run goes on (no engine)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from envctl.errors import WaitTimeoutError
from envctl.runs import control, exchange, lifecycle
from envctl.runs.outcome import EndFacts
from envctl.runs.run import Run
from envctl.runs.state import Limits, RunRecord
from envctl.runs.store import RunStore, take_collector_lock
from envctl.ui.waiting import bounded_wait

RUN_ID = "20260101-000000-abcd"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Run]:
    path = tmp_path / RUN_ID
    path.mkdir()
    exchange.create_dirs(path)
    lifecycle.create(path, RunRecord(id=RUN_ID, project="p", service="test", command=["pytest"],
                                     limits=Limits(1 << 30, 1.0, 100), started_at=time.time()))
    lifecycle.mark_running(path)
    fd = take_collector_lock(path)
    assert fd is not None
    yield Run(RunStore(tmp_path), RUN_ID)
    os.close(fd)


@pytest.fixture
def at_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bounded wait reaches its deadline at once (no real waiting, no engine)."""
    def wait_for(_run_dir: Path, **kwargs: object) -> RunRecord:
        assert kwargs["timeout"] is not None
        raise WaitTimeoutError(f"not ended within {kwargs['timeout']}s")

    monkeypatch.setattr(control, "wait_for", wait_for)


@pytest.mark.usefixtures("at_deadline")
def test_timeout_prints_one_progress_line_and_exits_25(running: Run,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """At the deadline: exit 25, one line saying where the run is and how to wait again."""
    assert bounded_wait(running, 0.3) == 25
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(f"envctl: run {RUN_ID} running: 0/? done, 0 failed, 0 errors")
    assert err.rstrip().endswith(f"still going: `envctl wait {RUN_ID} --timeout 100s`")


@pytest.mark.usefixtures("at_deadline")
def test_timeout_with_json(running: Run, capsys: pytest.CaptureFixture[str]) -> None:
    """With --json the same answer is the wait view, on stdout."""
    assert bounded_wait(running, 0.3, as_json=True) == 25
    data = json.loads(capsys.readouterr().out)
    assert (data["schema"], data["ended"], data["state"]) == ("envctl/wait/1", False, "running")


def test_an_ended_run_exits_with_its_code(running: Run, capsys: pytest.CaptureFixture[str]) -> None:
    """A run that has ended: its summary, and pytest's exit code."""
    lifecycle.finish(running.dir, EndFacts(exit_code=1))
    lifecycle.mark_cleaned(running.dir)
    assert bounded_wait(running, 5) == 1
    assert f"envctl: run {RUN_ID} failed in" in capsys.readouterr().err


@pytest.mark.usefixtures("at_deadline")
def test_a_bounded_wait_stays_bounded_under_ci(running: Run, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """CI=true (an agent in a CI job) does not turn `wait --timeout` into CI mode, which waits to
    the end and stops the run when the shell kills it."""
    from envctl.cli import main  # noqa: PLC0415

    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("ENVCTL_LOG_DIR", str(running.dir.parent))
    monkeypatch.chdir(running.dir.parent)
    assert main(["wait", RUN_ID, "--timeout", "0.3s"]) == 25
    assert capsys.readouterr().err.startswith(f"envctl: run {RUN_ID} running")
    assert main(["wait", RUN_ID, "--ci", "--timeout", "1s"]) == 10
