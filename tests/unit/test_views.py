"""The --json / MCP answers: each names its schema and validates against it (no engine)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from envctl.report.failures import Failure
from envctl.runs import exchange, lifecycle
from envctl.runs.logfile import read_chunk
from envctl.runs.outcome import EndFacts
from envctl.runs.progress import Progress
from envctl.runs.run import Run, RunStatus
from envctl.runs.state import Counts, Limits, RunRecord, RunState
from envctl.runs.store import RunStore
from envctl.schemas import load, names
from envctl.ui import views
from tests.unit import pytest_numbers

RUN_ID = "20260101-000000-abcd"


def valid(name: str, value: dict[str, Any]) -> dict[str, Any]:
    data = json.loads(json.dumps(value, default=str))  # what --json prints
    jsonschema.Draft202012Validator(load(name)).validate(data)
    assert data["schema"] == f"envctl/{name}/1"
    return data  # type: ignore[no-any-return]


@pytest.fixture
def ended(tmp_path: Path) -> Path:
    path = tmp_path / RUN_ID
    path.mkdir()
    exchange.create_dirs(path)
    lifecycle.create(path, RunRecord(id=RUN_ID, project="p", service="test", command=["pytest", "-x"],
                                     limits=Limits(1 << 30, 1.0, 100), started_at=1.0))
    (path / "output.log").write_bytes(b"".join(b"line %d\n" % i for i in range(100)))
    lifecycle.finish(path, EndFacts(exit_code=1))
    return path


def failure(i: int, size: int = 200) -> Failure:
    return Failure(f"tests/test_m.py::test_{i}", "failed", "AssertionError: " + "x" * size,
                   "tests/test_m.py", i + 1, tuple(f"E   line {j} " + "y" * 150 for j in range(12)))


def test_every_schema_is_a_valid_draft_2020_12_schema() -> None:
    """Each file under envctl/schemas/ is itself a valid JSON Schema with its own id."""
    assert names() == ["config", "doctor", "down", "env", "failures", "logs", "merged", "report", "run",
                       "runs", "services", "started", "status", "wait"]
    for name in names():
        schema = load(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$id"] == f"https://envctl.dev/schemas/{name}/1"


def test_status_wait_run_and_runs_views_validate(ended: Path) -> None:
    """The views of a finished run carry what the record says."""
    status = Run(RunStore(ended.parent), RUN_ID).status(lines=3)
    data = valid("status", views.status_view(status))
    assert (data["state"], data["exit_code"], data["last_lines"]) == ("failed", 1, ["line 97", "line 98",
                                                                                    "line 99"])
    waited = valid("wait", views.wait_view(status, waited=0.25))
    assert (waited["ended"], waited["next"], waited["waited"]) == (True, None, 0.25)
    assert valid("run", views.run_view(status.record))["command"] == ["pytest", "-x"]
    listed = valid("runs", views.runs_view([status.record], []))
    assert [r["run"] for r in listed["runs"]] == [RUN_ID]


def test_started_view_names_the_commands_to_follow(ended: Path) -> None:
    """`test --detach --json` says how to follow the run from any shell."""
    record = RunRecord.load(ended)
    data = valid("started", views.started_view(ended, record, rerun=3))
    assert data["commands"] == {"status": f"envctl status {RUN_ID}",
                                "wait": f"envctl wait {RUN_ID} --timeout 100s",
                                "logs": f"envctl logs {RUN_ID} --tail 50",
                                "failures": f"envctl failures {RUN_ID}", "stop": f"envctl stop {RUN_ID}"}
    assert data["rerun"] == 3


def test_failures_view_stays_under_its_budget_with_500_failures(ended: Path) -> None:
    """500 failures with long messages and tracebacks: the default answer is under 20 KB and
    says how many more there are and how to see them."""
    record = RunRecord.load(ended)
    data = valid("failures", views.failures_view(record, [failure(i) for i in range(500)], 500))
    size = len(json.dumps(data, indent=2))
    assert size < 20 * 1024
    assert data["shown"] + data["more"] == 500
    assert 0 < data["shown"] <= views.FAILURES_LIMIT
    assert data["hint"] == (f"{data['more']} more: `envctl failures {RUN_ID} --limit {data['shown'] + 50}`, "
                            f"or `envctl report {RUN_ID} --format json`")


def test_failures_view_with_a_limit_gives_what_was_asked_within_256_kb(ended: Path) -> None:
    """An explicit limit is honoured, up to 256 KB: hostile texts cannot make it hundreds of MB."""
    record = RunRecord.load(ended)
    data = views.failures_view(record, [failure(i) for i in range(50)], 50, limit=50)
    assert (data["shown"], data["more"], data["hint"]) == (50, 0, None)
    assert data["failures"][0]["tail"] == list(failure(0).tail[-6:])
    huge = [failure(i, size=100_000) for i in range(1000)]
    capped = views.failures_view(record, huge, 1000, limit=1000, tail=12)
    assert len(json.dumps(capped)) <= views.LIMITED_BUDGET + 1024
    assert capped["shown"] + capped["more"] == 1000


def test_failures_text_cleans_what_the_container_wrote(ended: Path) -> None:
    """A message carrying terminal escapes (clipboard, clear screen) prints inert."""
    record = RunRecord.load(ended)
    hostile = Failure("t.py::test_x\x1b[2J", "failed", "boom \x1b]52;c;aGk=\x07\x1b[2J", "t.py", 1,
                      ("E  \x1b[31mred",))
    text = views.failures_text(views.failures_view(record, [hostile], 1))
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "FAILED t.py::test_x?[2J  (t.py:1)" in text


def test_failures_text_is_compact_lines(ended: Path) -> None:
    """The terminal form: one FAILED line per test, its message, then its traceback's tail."""
    record = RunRecord.load(ended)
    text = views.failures_text(views.failures_view(record, [failure(0, 5)], 1, tail=2))
    assert text.splitlines() == [
        f"run {RUN_ID} (failed): 1 failed or errored test(s)",
        "FAILED tests/test_m.py::test_0  (tests/test_m.py:1)",
        "  AssertionError: xxxxx",
        "  | E   line 10 " + "y" * 150,
        "  | E   line 11 " + "y" * 150,
    ]


def test_logs_view_reads_on_from_its_end(ended: Path) -> None:
    """An agent pages through the log: each answer's `end` is the next offset, on whole lines."""
    record = RunRecord.load(ended)
    first = valid("logs", views.logs_view(record, read_chunk(ended, offset=0, max_bytes=300)))
    assert first["truncated"] is True
    assert str(first["text"]).endswith("\n")
    second = valid("logs", views.logs_view(record, read_chunk(ended, offset=first["end"], max_bytes=1 << 20)))
    assert (second["complete"], second["truncated"]) == (True, False)
    assert str(first["text"]) + str(second["text"]) == (ended / "output.log").read_text()


def test_logs_view_of_the_last_lines(ended: Path) -> None:
    """Without an offset: the last lines, and `end` where the file ends."""
    record = RunRecord.load(ended)
    data = valid("logs", views.logs_view(record, read_chunk(ended, tail=2)))
    assert (data["text"], data["start"], data["end"]) == ("line 98\nline 99", None,
                                                           (ended / "output.log").stat().st_size)


def test_progress_line_of_a_running_and_an_ended_run(ended: Path) -> None:
    """One line that says where the run is, and what to run next while it goes on."""
    status = Run(RunStore(ended.parent), RUN_ID).status(lines=0)
    assert views.progress_line(status).startswith(f"run {RUN_ID} failed: 0/? done, 0 failed, 0 errors")
    assert views.progress_line(status).endswith("; exit 1")
    other = "20260101-000001-abcd"
    lifecycle.create(ended.parent / other, RunRecord(id=other, project="p", service="test", command=[],
                                                     limits=Limits(1, 1.0, 1), state=RunState.RUNNING))
    running = Run(RunStore(ended.parent), "20260101-000001-abcd").status(lines=0)
    assert views.progress_line(running) == ("run 20260101-000001-abcd running: 0/? done, 0 failed, 0 errors; "
                                            "still going: `envctl wait 20260101-000001-abcd --timeout 100s`")


def test_hostile_progress_times_do_not_break_status(ended: Path) -> None:
    """Times from the container that are no times (1e308, -1e308, 1970) give no rate, or an ETA
    shown as "?", never a crash or an `Infinity` in the JSON."""
    from envctl.ui.render import status_text  # noqa: PLC0415

    for started, updated in ((-1e308, 1e308), (1.0, None)):
        (ended / "progress.json").write_text(json.dumps(
            {"total": 10, "done": 5, "passed": 5, "started": started, "updated": updated}))
        status = Run(RunStore(ended.parent), RUN_ID).status(lines=0)
        assert json.dumps(views.status_view(status), allow_nan=False)
        assert views.progress_line(status).startswith(f"run {RUN_ID} failed: 5/10 done")
        assert "progress: 5/10" in status_text(status)
    assert status.progress.eta is not None
    from envctl.units import format_duration  # noqa: PLC0415

    assert format_duration(status.progress.eta) == "?"


def test_config_view_gives_waits_as_objects(tmp_path: Path) -> None:
    """`config --json` after `init`: each [wait.X] table is an object, the whole is valid JSON."""
    from envctl.settings import load_settings  # noqa: PLC0415

    (tmp_path / "envctl.toml").write_text('[wait.cache]\nport = 6379\ntimeout = "30s"\n')
    view = json.loads(json.dumps(views.config_view(load_settings(tmp_path, environ={}))))
    valid("config", view)
    assert view["settings"]["wait"]["value"] == [
        {"service": "cache", "port": 6379, "http": None, "log": None, "timeout": 30.0}]
    assert view["settings"]["log_dir"]["value"] == ".envctl/runs"


def test_status_run_and_runs_views_give_pytests_numbers(tmp_path: Path) -> None:
    """What `status --json`, `runs --json` and the MCP tools answer: pytest's numbers, the module
    skipped at collection among the skipped, xfails apart, and done equal to total."""
    pytest_numbers.ended_run(tmp_path)
    status = Run(RunStore(tmp_path), pytest_numbers.RUN_ID).status(lines=0)
    progress = valid("status", views.status_view(status))["progress"]
    assert {key: progress[key] for key in pytest_numbers.NUMBERS} == pytest_numbers.NUMBERS
    for counts in (valid("run", views.run_view(status.record))["counts"],
                   valid("runs", views.runs_view([status.record], []))["runs"][0]["counts"]):
        assert {key: counts[key] for key in pytest_numbers.NUMBERS} == pytest_numbers.NUMBERS
    assert views.progress_line(status).startswith(f"run {pytest_numbers.RUN_ID} failed: 8/8 done, 1 failed")


def test_status_gives_how_late_a_run_past_its_timeout_is() -> None:
    """`overdue`: seconds past the timeout and the host's grace; null for a run within it."""
    started = time.time() - 1000
    record = RunRecord(id="r1", project="p", service="test", command=[], limits=Limits(1, 1.0, 1),
                       state=RunState.RUNNING, started_at=started, timeout=100)
    progress = Progress(Counts(), None, started, started, "plugin")
    late = views.status_view(RunStatus(record, progress, [], Path("output.log")))
    assert round(late["overdue"]) == 1000 - 100 - 60
    on_time = RunStatus(replace(record, timeout=3600), progress, [], Path("output.log"))
    assert views.status_view(on_time)["overdue"] is None


def test_status_and_wait_carry_the_resource_use(ended: Path) -> None:
    """The sampled figures in both views, valid against their schemas; null before a sample."""
    from envctl.report.usage import Resources, Usage  # noqa: PLC0415
    from envctl.runs.resource_files import write_resources  # noqa: PLC0415

    status = Run(RunStore(ended.parent), RUN_ID).status(lines=0)
    assert valid("status", views.status_view(status))["resources"] is None
    test = Usage(memory=5, working_set=4, peak=900, limit=1000, cpu=1.5, pids=3)
    write_resources(ended, Resources(at=2.0, test=test, services=(("db", Usage(memory=7)),), samples=4))
    data = valid("status", views.status_view(status))
    assert data["resources"] == {
        "at": 2.0, "samples": 4,
        "test": {"memory": 5, "working_set": 4, "peak": 900, "limit": 1000, "cpu": 1.5, "pids": 3},
        "services": {"db": {"memory": 7, "working_set": None, "peak": None, "limit": None, "cpu": None,
                            "pids": None}},
        "warnings": ["the test container's memory peaked at 900 B, 90% of its 1000 B limit"],
        "on_host": False}
    assert valid("wait", views.wait_view(status, waited=1.0))["resources"] == data["resources"]
