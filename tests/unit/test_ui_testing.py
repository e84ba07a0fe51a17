"""`envctl test` on a terminal (envctl/ui/testing.py) and `envctl up` (envctl/ui/services.py),
with the verbs faked: what is printed for each way a run starts, and the exit codes."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest

import envctl.env.environment
import envctl.ui.follow
import envctl.ui.shards
from envctl.errors import EnvironmentFailedError
from envctl.runs.state import RunRecord
from envctl.ui import environ, services, testing
from envctl.verbs.env import UpOptions
from envctl.verbs.test import Started, TestOptions
from tests.unit.run_dirs import RUN_ID, make_run, settings_at
from tests.unit.test_verbs_misc import FakeEnvironment


def started_with(monkeypatch: pytest.MonkeyPatch, started: Started) -> None:
    monkeypatch.setattr(testing, "start_run", lambda _settings, _options: started)


def test_nothing_to_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing started: the notes on stderr, exit 0; with --json an answer that says so."""
    started_with(monkeypatch, Started(None, None, ("nothing failed",), 0))
    assert testing.run_tests(settings_at(tmp_path), TestOptions(detach=True, as_json=True)) == 0
    out, err = capsys.readouterr()
    assert (json.loads(out)["message"], err) == ("nothing failed", "envctl: nothing failed\n")


def test_detached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  capsys: pytest.CaptureFixture[str]) -> None:
    """--detach prints the id (and how to follow it on stderr), or the started view with --json."""
    run_dir = make_run(tmp_path)
    started_with(monkeypatch, Started(run_dir, RunRecord.load(run_dir)))
    assert testing.run_tests(settings_at(tmp_path), TestOptions(detach=True)) == 0
    out, err = capsys.readouterr()
    assert out == f"{RUN_ID}\n"
    assert f"  cancel:    envctl stop {RUN_ID}" in err
    assert testing.run_tests(settings_at(tmp_path), TestOptions(detach=True, as_json=True)) == 0
    assert json.loads(capsys.readouterr().out)["id"] == RUN_ID


def test_foreground_and_shards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """In the foreground the run is followed; with --shards, the shards, then their summary."""
    run_dir = make_run(tmp_path, exit_code=1)
    record = RunRecord.load(run_dir)
    started_with(monkeypatch, Started(run_dir, record))
    monkeypatch.setattr(envctl.ui.follow, "follow", lambda path: 7 if path == run_dir else 0)
    assert testing.run_tests(settings_at(tmp_path), TestOptions()) == 7
    monkeypatch.setattr(envctl.ui.shards, "follow_shards", lambda _path: record)
    assert testing.run_tests(settings_at(tmp_path), TestOptions(shards=2)) == 1
    assert capsys.readouterr().err.startswith(f"envctl: run {RUN_ID} failed in")
    # A --shards run's resume: a parent with shards, followed as --shards is.
    parent = dataclasses.replace(record, children=["20260101-000001-abce"])
    started_with(monkeypatch, Started(run_dir, parent))
    assert testing.run_tests(settings_at(tmp_path), TestOptions(resume=RUN_ID)) == 1


def test_up_on_a_terminal_shows_the_services_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a TTY the live table is the progress callback of the start."""
    import envctl.ui.render  # noqa: PLC0415

    shown: list[Any] = []

    class Live:
        def __init__(self, targets: list[str]) -> None:
            shown.append(targets)

        def __enter__(self) -> Live:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    FakeEnvironment.asked = []
    monkeypatch.setattr(envctl.env.environment, "Environment", FakeEnvironment)
    monkeypatch.setattr(FakeEnvironment, "targets", lambda self, names: list(names), raising=False)
    monkeypatch.setattr(envctl.ui.render, "LiveServices", Live)
    monkeypatch.setattr(environ, "stderr_is_terminal", lambda: True)
    assert services.bring_up(settings_at(tmp_path), UpOptions(services=("db",))) == 0
    assert (shown, FakeEnvironment.asked) == ([["db"]], ["up ['db'] None False"])


def test_a_failed_up_on_github_is_annotated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On GitHub Actions a failed start is annotated, then raised as ever."""
    import envctl.ui.ci  # noqa: PLC0415

    def fail(*_args: Any, **_kwargs: Any) -> list[Any]:
        raise EnvironmentFailedError("db failed", failures=[("db", "exited 1")])

    annotated: list[Any] = []
    monkeypatch.setattr(envctl.env.environment, "Environment", FakeEnvironment)
    monkeypatch.setattr(FakeEnvironment, "up", fail)
    monkeypatch.setattr(environ, "stderr_is_terminal", lambda: False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "s.md"))
    monkeypatch.setattr(envctl.ui.ci, "annotate_failed_up", lambda exc, path, _out: annotated.append(
        (exc.message, path)))
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(io.BytesIO()))
    with pytest.raises(EnvironmentFailedError):
        services.bring_up(settings_at(tmp_path), UpOptions())
    assert annotated == [("db failed", tmp_path / "s.md")]
