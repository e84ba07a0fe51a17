"""The run verbs (status, runs, failures, stop, logs) on run directories in a tmp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envctl.errors import RunNotFoundError, UsageError
from envctl.runs.run import Run
from envctl.runs.state import RunRecord
from envctl.verbs import logs, runs
from tests.unit.run_dirs import OTHER_ID, RUN_ID, make_run, settings_at


def test_status_of_the_latest_run(tmp_path: Path) -> None:
    """'latest' is the newest run; its status carries the last output lines asked for."""
    make_run(tmp_path, RUN_ID, exit_code=0)
    make_run(tmp_path, OTHER_ID, log=b"one\ntwo\nthree\n")
    status = runs.status(settings_at(tmp_path), lines=2)
    assert (status.record.id, status.record.state.value) == (OTHER_ID, "running")
    assert list(status.last_lines) == ["two", "three"]


def test_a_missing_run_is_run_not_found(tmp_path: Path) -> None:
    """A run id that is not there: RunNotFoundError (exit 17)."""
    make_run(tmp_path)
    with pytest.raises(RunNotFoundError):
        runs.open_run(settings_at(tmp_path), "20990101-000000-ffff")


@pytest.mark.parametrize(("limit", "expected"), [(None, [RUN_ID, OTHER_ID]), (1, [OTHER_ID]), (0, [])])
def test_history_oldest_first_and_limited(tmp_path: Path, limit: int | None, expected: list[str]) -> None:
    """The history lists runs oldest first; a limit keeps the newest."""
    make_run(tmp_path, RUN_ID, exit_code=1)
    make_run(tmp_path, OTHER_ID, exit_code=0)
    found = runs.history(settings_at(tmp_path), limit=limit)
    assert [record.id for record in found.records] == expected
    assert found.damaged == []


def test_failures_of_a_run_without_failures(tmp_path: Path) -> None:
    """A run that failed nothing: the failures view says 0."""
    make_run(tmp_path, exit_code=0)
    view = runs.failures(settings_at(tmp_path), RUN_ID)
    assert (view["schema"], view["run"], view["total"], view["failures"]) == (
        "envctl/failures/1", RUN_ID, 0, [])


def test_failures_say_new_old_or_flaky_within_the_budget(tmp_path: Path) -> None:
    """500 failures, each marked from the history: the default answer stays within its 16 KB
    (marks included), is valid under its schema, and the terminal lines say each mark."""
    import json  # noqa: PLC0415

    import jsonschema  # noqa: PLC0415

    from envctl.history import HISTORY_FILE, Outcome, command_key, record  # noqa: PLC0415
    from envctl.schemas import load  # noqa: PLC0415
    from envctl.ui.views import FAILURES_BUDGET, failures_text  # noqa: PLC0415

    run_dir = make_run(tmp_path, exit_code=1)
    names = [f"tests/test_m.py::test_{i}" for i in range(500)]
    record(run_dir.parent / HISTORY_FILE, OTHER_ID, command_key(["pytest"]), "",
           [Outcome(name, "failed" if i % 2 else "passed", 1.0) for i, name in enumerate(names)], at=1.0)
    (run_dir / "events.jsonl").write_text("".join(
        json.dumps({"kind": "result", "nodeid": name, "outcome": "failed", "message": "x" * 400,
                    "tail": ["y" * 200] * 12}) + "\n" for name in names))
    view = runs.failures(settings_at(tmp_path), RUN_ID)
    jsonschema.Draft202012Validator(load("failures")).validate(view)
    assert len(json.dumps(view)) <= FAILURES_BUDGET
    assert view["history"] == {"runs": 1, "previous_run": OTHER_ID}
    assert [item["history"] for item in view["failures"][:2]] == ["new", "old"]
    lines = failures_text(view).splitlines()
    assert lines[1] == "FAILED tests/test_m.py::test_0  [new]"
    assert "FAILED tests/test_m.py::test_1  [failed in the last run too]" in lines


def test_stop_asks_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`stop` stops the run it finds and answers with the record."""
    make_run(tmp_path)
    stopped: list[str] = []

    def fake_stop(run: Run) -> RunRecord:
        stopped.append(run.id)
        return run.record

    monkeypatch.setattr(Run, "stop", fake_stop)
    assert runs.stop(settings_at(tmp_path), RUN_ID).id == RUN_ID
    assert stopped == [RUN_ID]


@pytest.mark.parametrize(("options", "message"), [
    (logs.LogsOptions(offset=3), "--offset reads a piece of the log as JSON: add --json"),
    (logs.LogsOptions(as_json=True, follow=True), "--json prints one piece of the log"),
    (logs.LogsOptions(as_json=True, timestamps=True), "--json prints one piece of the log"),
    (logs.LogsOptions(as_json=True, offset=0, tail=2), "--json prints one piece of the log"),
])
def test_the_logs_rule_on_the_command_line(options: logs.LogsOptions, message: str) -> None:
    """A piece is the last lines or the bytes from an offset, never followed or stamped."""
    with pytest.raises(UsageError) as caught:
        logs.check_options(options)
    assert caught.value.message.startswith(message)


def test_the_logs_rule_in_the_tools_words() -> None:
    """The same rule names the tool's arguments for an agent."""
    with pytest.raises(UsageError) as caught:
        logs.check_options(logs.LogsOptions(as_json=True, offset=0, tail=2), logs.MCP)
    assert caught.value.message == "give `tail` (the last lines) or `offset` (bytes from there), not both"
    logs.check_options(logs.LogsOptions(follow=True, timestamps=True, tail=3))  # printed: all fine


def test_a_piece_from_an_offset_and_the_last_lines(tmp_path: Path) -> None:
    """`end` is the next offset; tail gives the last lines; max_bytes is at least 1 KiB."""
    make_run(tmp_path, exit_code=0, log=b"first\nsecond\nthird\n")
    run = runs.open_run(settings_at(tmp_path))
    view = logs.piece(run, logs.LogsOptions(as_json=True, offset=6, max_bytes=1))
    assert (view["text"], view["start"], view["end"], view["complete"]) == ("second\nthird\n", 6, 19, True)
    assert logs.piece(run, logs.LogsOptions(as_json=True, tail=1))["text"] == "third"


class FakeEngine:
    """An engine that hands back two chunks of a container's stored log."""

    def __init__(self, timeout: float | None, *, host: str | None = None) -> None:
        self.host = host
        self.timeout = timeout

    def __enter__(self) -> FakeEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def output_stream(self, container: str, *, follow: bool, tail: int | None = None) -> Iterator[bytes]:
        yield f"{container} {follow} {tail}\n".encode()
        yield b"done\n"


def test_container_output_follows_the_engines_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """The container's output is the engine's stored log, followed to the container's exit."""
    import envctl.docker.engine  # noqa: PLC0415

    monkeypatch.setattr(envctl.docker.engine, "Engine", FakeEngine)
    chunks: list[Any] = list(logs.container_output("c1", tail=5))
    assert chunks == [b"c1 True 5\n", b"done\n"]
