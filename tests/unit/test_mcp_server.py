"""The MCP tools' work and their argument checks, without an engine or a client (the real
client drives `envctl mcp` in tests/integration/test_mcp.py)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from envctl.errors import RunNotFoundError, UsageError, WaitTimeoutError
from envctl.runs import exchange, lifecycle
from envctl.runs.outcome import EndFacts
from envctl.runs.state import Limits, RunRecord
from envctl.runs.store import take_collector_lock
from envctl.schemas import load
from envctl.ui import mcp_server
from envctl.ui.mcp_server import SPECS, Tools, argument_errors, error_text

RUN_ID = "20260101-000000-abcd"


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A running run whose (pretend) collector holds its lock, in the log dir of a project."""
    monkeypatch.setenv("ENVCTL_LOG_DIR", str(tmp_path / "runs"))
    path = tmp_path / "runs" / RUN_ID
    path.mkdir(parents=True)
    exchange.create_dirs(path)
    lifecycle.create(path, RunRecord(id=RUN_ID, project="p", service="test", command=["pytest"],
                                     limits=Limits(1 << 30, 1.0, 100), started_at=time.time()))
    lifecycle.assign_container(path, "c")
    lifecycle.mark_running(path)
    fd = take_collector_lock(path)
    assert fd is not None
    yield path
    os.close(fd)


def test_the_tools_and_their_schemas() -> None:
    """Every tool the issue names, each with a valid input schema and a known output schema."""
    assert set(SPECS) == {"start_run", "status", "wait", "failures", "logs", "rerun_failed", "stop",
                          "runs", "up", "down", "ps", "env"}
    for spec in SPECS.values():
        jsonschema.Draft202012Validator.check_schema(spec.input_schema)
        assert load(spec.output)["type"] == "object"
    assert SPECS["wait"].input_schema["properties"]["seconds"]["default"] == 50


@pytest.mark.parametrize(("tool", "arguments", "error"), [
    ("status", {"run_id": "../x"}, "run_id: '../x' does not match"),
    ("status", {"run_id": "-rf"}, "run_id: '-rf' does not match"),
    ("wait", {"seconds": 601}, "seconds: 601 is greater than the maximum of 600"),
    ("wait", {"seconds": "50"}, "seconds: '50' is not of type 'number'"),
    ("start_run", {"pytest_args": "-k x"}, "pytest_args: '-k x' is not of type 'array'"),
    ("start_run", {"shard": "1/2; rm -rf /"}, "shard: '1/2; rm -rf /' does not match"),
    ("ps", {"extra": 1}, "arguments: Additional properties are not allowed ('extra' was unexpected)"),
    ("stop", {}, "arguments: 'run_id' is a required property"),
    ("start_run", {"timeout": "9" * 400}, "timeout: '" + "9" * 400 + "' does not match"),
    ("status", {"run_id": "latest\n"}, "run_id: 'latest\\n' does not match"),
    ("start_run", {"shard": "1/2\n"}, "shard: '1/2\\n' does not match"),
    ("up", {"timeout": "90s\n"}, "timeout: '90s\\n' does not match"),
    # The on_finish hook runs on the host: a setting of the user's files only, never a tool's.
    ("start_run", {"on_finish": ["sh", "-c", "x"]},
     "arguments: Additional properties are not allowed ('on_finish' was unexpected)"),
])
def test_bad_arguments_are_refused_before_any_work(tool: str, arguments: dict[str, object],
                                                   error: str) -> None:
    """Arguments are checked against the tool's schema where they enter."""
    errors = argument_errors(SPECS[tool], arguments)
    assert len(errors) == 1
    assert errors[0].startswith(error)


def test_pytest_arguments_are_passed_as_given() -> None:
    """Shell characters are data: an argv list reaches pytest unchanged (no shell anywhere)."""
    assert argument_errors(SPECS["start_run"], {"pytest_args": ["-k", "a and not $(b)", "x;y", "--"]}) == []


class FakeWait:
    """control.wait_for without an engine: ticks the run's record on a fake clock, then ends
    the run (``finish``) or reaches the deadline."""

    def __init__(self, *, ticks: int, step: float, finish: int | None = None) -> None:
        self.now = 100.0
        self.ticks, self.step, self.finish = ticks, step, finish
        self.asked: dict[str, object] = {}

    def clock(self) -> float:
        return self.now

    def __call__(self, run_dir: Path, **kwargs: Any) -> RunRecord:
        self.asked = kwargs
        for _ in range(self.ticks):
            self.now += self.step
            kwargs["on_tick"](RunRecord.load(run_dir))
        if self.finish is not None:
            lifecycle.finish(run_dir, EndFacts(exit_code=self.finish))
            return RunRecord.load(run_dir)
        self.now = 100.0 + kwargs["timeout"]
        raise WaitTimeoutError("the deadline")


def test_wait_returns_at_its_deadline_while_the_run_goes_on(running: Path) -> None:
    """`wait` never blocks past `seconds`; it says the run has not ended, and reports progress."""
    reports: list[tuple[float, float | None, str]] = []
    fake = FakeWait(ticks=3, step=3.0)
    tools = Tools(running.parent.parent, lambda done, total, message: reports.append((done, total, message)),
                  wait_with={"wait_for": fake, "clock": fake.clock})
    answer = tools.wait({"run_id": RUN_ID, "seconds": 20})
    assert fake.asked["timeout"] == 20.0
    assert fake.asked["cleaned"] is False
    assert (answer.data["ended"], answer.data["state"], answer.data["waited"]) == (False, "running", 20.0)
    assert answer.data["next"] == f"envctl wait {RUN_ID} --timeout 100s"
    # Nothing changed between the ticks: the first is reported, and the third, 5 s later.
    assert [(done, total) for done, total, _m in reports] == [(3.0, 20.0), (9.0, 20.0)]
    assert reports[0][2].startswith(f"run {RUN_ID} running: 0/? done")


def test_wait_returns_as_soon_as_the_run_ends(running: Path) -> None:
    """The end is an answer at once, with pytest's exit code."""
    fake = FakeWait(ticks=1, step=0.25, finish=1)
    answer = Tools(running.parent.parent, wait_with={"wait_for": fake, "clock": fake.clock}).wait(
        {"run_id": RUN_ID, "seconds": 30})
    assert (answer.data["ended"], answer.data["state"], answer.data["exit_code"]) == (True, "failed", 1)
    assert answer.data["waited"] == 0.25
    assert answer.summary.endswith("; exit 1")


def test_failures_from_the_events_with_their_traceback_tails(running: Path) -> None:
    """`failures` reads the plugin's events: node id, place, message and the traceback's end."""
    events = running.parent.parent / "runs" / ".exchange" / RUN_ID / "events.jsonl"
    events.parent.mkdir(parents=True, exist_ok=True)
    events.write_text(
        '{"kind": "result", "nodeid": "t.py::test_a", "outcome": "failed", "message": "assert 1 == 2", '
        '"path": "/suite/t.py", "line": 3, "tail": ["E   assert 1 == 2", "t.py:3: AssertionError"]}\n'
        '{"kind": "result", "nodeid": "t.py::test_b", "outcome": "passed"}\n')
    (running / "events.jsonl").write_bytes(events.read_bytes())  # the host's copy, as collected
    answer = Tools(running.parent.parent).failures({"run_id": RUN_ID})
    assert answer.data["failures"] == [{"test": "t.py::test_a", "outcome": "failed", "file": "t.py",
                                        "line": 3, "message": "assert 1 == 2",
                                        "tail": ["E   assert 1 == 2", "t.py:3: AssertionError"],
                                        "history": None}]
    assert answer.summary == f"run {RUN_ID} (running): 1 failed: t.py::test_a"


def test_failures_say_what_the_history_says_of_each(running: Path) -> None:
    """A failure that passed in the last run of the same command is new, in the view and the text."""
    from envctl.history import HISTORY_FILE, Outcome, command_key, record  # noqa: PLC0415

    record(running.parent / HISTORY_FILE, "20251231-000000-aaaa", command_key(["pytest"]), "",
           [Outcome("t.py::test_a", "passed", 0.1), Outcome("t.py::test_b", "failed", 0.1)])
    (running / "events.jsonl").write_text(
        '{"kind": "result", "nodeid": "t.py::test_a", "outcome": "failed", "message": "m"}\n'
        '{"kind": "result", "nodeid": "t.py::test_b", "outcome": "failed", "message": "m"}\n')
    answer = Tools(running.parent.parent).failures({"run_id": RUN_ID})
    assert [item["history"] for item in answer.data["failures"]] == ["new", "old"]
    assert answer.data["history"] == {"runs": 1, "previous_run": "20251231-000000-aaaa"}
    assert answer.summary == (f"run {RUN_ID} (running): 2 failed: t.py::test_a (new), "
                              "t.py::test_b (failed in the last run too)")


def test_a_missing_run_is_an_error_with_its_exit_code(running: Path) -> None:
    """envctl's errors reach the agent as text with the exit code the CLI would give."""
    with pytest.raises(RunNotFoundError) as caught:
        Tools(running.parent.parent).status({"run_id": "20990101-000000-ffff"})
    assert error_text(caught.value).startswith("error (envctl exit 17): ")


def test_without_the_sdk_the_message_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """`envctl mcp` with no `mcp` package says what to install."""
    monkeypatch.setitem(sys.modules, "mcp_types", None)
    with pytest.raises(UsageError, match="needs the MCP SDK") as caught:
        mcp_server.serve(None)
    assert caught.value.hint == "pip install 'envctl[mcp]'"


def test_integer_arguments_given_as_floats_work(running: Path) -> None:
    """JSON Schema's integer admits 2.0: the tool takes it as 2, not as a crash."""
    (running / "output.log").write_bytes(b"first\nsecond\n")
    answer = Tools(running.parent.parent).logs({"run_id": RUN_ID, "offset": 6.0, "max_bytes": 2048.0})
    assert (answer.data["text"], answer.data["start"]) == ("second\n", 6)
    with pytest.raises(UsageError, match="not both"):
        Tools(running.parent.parent).logs({"run_id": RUN_ID, "offset": 0, "tail": 3})


def test_start_run_maps_its_arguments(running: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """start_run: the limits become settings, the rest the test options; the answer is the
    started view with a summary that says to wait."""
    from envctl.verbs import test as test_verb  # noqa: PLC0415

    seen: list[Any] = []

    def start_run(settings: Any, options: Any) -> Any:
        seen.append((settings.cpus, settings.pids, options))
        return test_verb.Started(running, RunRecord.load(running), ("a note",), None)

    monkeypatch.setattr(test_verb, "start_run", start_run)
    answer = Tools(running.parent.parent).start_run({"pytest_args": ["-k", "x"], "cpus": 2, "pids": 50,
                                                     "shards": 2})
    assert seen[0][:2] == (2.0, 50)
    assert (seen[0][2].pytest_args, seen[0][2].detach, seen[0][2].shards, seen[0][2].host) == \
        (("-k", "x"), True, 2, False)
    assert answer.data["id"] == RUN_ID
    assert answer.summary == f"run {RUN_ID} started (a note); call wait(run_id={RUN_ID!r}) until it has ended"
    answer = Tools(running.parent.parent).rerun_failed({"run_id": RUN_ID})
    assert seen[1][2].rerun_failed == RUN_ID
    Tools(running.parent.parent).start_run({"host": True})
    assert (seen[2][2].host, seen[2][2].shards) == (True, None)


def test_status_runs_and_stop(running: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """status, runs and stop answer with their views and one line."""
    from envctl.runs.run import Run  # noqa: PLC0415

    tools = Tools(running.parent.parent)
    assert tools.status({"run_id": RUN_ID}).data["state"] == "running"
    answer = tools.runs({"limit": 5})
    assert answer.summary == f"1 run(s); latest {RUN_ID} running"
    monkeypatch.setattr(Run, "stop", lambda run: run.record)
    assert tools.stop({"run_id": RUN_ID}).summary == (
        f"run {RUN_ID}: running (stop requested; it ends cancelled)")


def test_up_down_ps_report_progress(running: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """up reports each service's change (a count that only increases); down and ps answer."""
    import envctl.env.environment  # noqa: PLC0415
    from tests.unit.test_verbs_misc import FakeEnvironment, _Phase  # noqa: PLC0415

    class Verdict:
        phase = _Phase("ready")

    def up(self: FakeEnvironment, services: list[str], **_kwargs: Any) -> list[Any]:
        self.on_progress("db", Verdict())
        return []

    reports: list[tuple[float, str]] = []
    monkeypatch.setattr(envctl.env.environment, "Environment", FakeEnvironment)
    monkeypatch.setattr(FakeEnvironment, "targets", lambda self, names: ["db"], raising=False)
    monkeypatch.setattr(FakeEnvironment, "up", up)
    monkeypatch.setattr(FakeEnvironment, "ps", lambda self: [])
    tools = Tools(running.parent.parent, lambda done, _total, message: reports.append((done, message)))
    assert tools.up({"services": ["db"]}).summary == "ready: "
    assert reports == [(1.0, "db: ready (1/1 ready)")]
    assert tools.down({"volumes": True}).summary == "project p is down"
    assert tools.call("ps", {}).summary == "no services running"


def test_env_maps_its_argument_and_answers_the_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """env: `probe` (default true) handed to the verb; envctl/env/1 and one line back."""
    from envctl.verbs import endpoints  # noqa: PLC0415

    asked: list[bool] = []
    found = endpoints.Endpoints("p", (endpoints.ServiceEndpoints(
        "web", "p-web-1", "running", None, "ready", (endpoints.Port(80, "tcp", "127.0.0.1", 8080),)),))

    def verb(_settings: object, *, probe: bool) -> endpoints.Endpoints:
        asked.append(probe)
        return found

    monkeypatch.setattr(endpoints, "endpoints", verb)
    tools = Tools(tmp_path)
    answer = tools.call("env", {})
    jsonschema.Draft202012Validator(load("env")).validate(answer.data)
    assert (answer.summary, answer.data["variables"]["ENVCTL_WEB_PORT"]) == ("web 127.0.0.1:8080", "8080")
    tools.env({"probe": False})
    assert asked == [True, False]
    assert argument_errors(SPECS["env"], {"probe": "yes"}) == ["probe: 'yes' is not of type 'boolean'"]


def test_a_run_ids_end_is_a_run_id() -> None:
    """The random part of an id (or more of its end) passes the schema, as on the command line."""
    for run_id in ("9d09", "050202-9d09", "20261123-050202-9d09", "latest"):
        assert argument_errors(SPECS["status"], {"run_id": run_id}) == []


def test_an_up_call_waits_at_most_an_hour(tmp_path: Path) -> None:
    """An `up` call's timeout beyond an hour is refused before anything starts."""
    with pytest.raises(UsageError, match="at most 1h for an up call"):
        Tools(tmp_path).up({"timeout": "2h"})


def test_a_cancelled_up_call_stops_its_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The call's cancel event is what the environment's start checks: set, the start gives up."""
    from envctl.verbs import env as env_verbs  # noqa: PLC0415

    seen: list[bool] = []

    class Env:
        project = "p"

        def targets(self, _services: list[str]) -> list[str]:
            return ["db"]

        def up(self, _services: list[str], **kwargs: Any) -> list[Any]:
            seen.append(kwargs["cancelled"]())
            tools.cancel.set()
            seen.append(kwargs["cancelled"]())
            raise UsageError("stand-in for the cancelled start")

    tools = Tools(tmp_path)
    monkeypatch.setattr(env_verbs, "environment", lambda _settings: Env())
    with pytest.raises(UsageError, match="stand-in"):
        tools.up({})
    assert seen == [False, True]
