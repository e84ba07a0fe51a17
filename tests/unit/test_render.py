"""The live line of `status --watch`: what matters shows at 80 columns (no engine)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from envctl.runs import lifecycle
from envctl.runs.outcome import EndFacts
from envctl.runs.progress import Progress
from envctl.runs.run import Run, RunStatus
from envctl.runs.state import Counts, Limits, RunRecord, RunState
from envctl.runs.store import RunStore
from envctl.ui import render
from envctl.ui.render import shorten, watch_line
from tests.unit import pytest_numbers
from tests.unit.pytest_numbers import ended_run

RUN_ID = "20260101-000000-abcd"
LONG = ("tests/integration/payments/test_refunds_with_a_very_long_module_name.py::TestRefunds::"
        "test_partial_refund[eur-3]")


def status(state: RunState = RunState.RUNNING, current: str | None = LONG) -> RunStatus:
    now = time.time()
    record = RunRecord(id=RUN_ID, project="p", service="test", command=[], limits=Limits(1, 1.0, 1),
                       state=state, started_at=now - 60)
    progress = Progress(Counts(total=500, done=143, passed=140, failed=3), current, now - 60, now, "plugin")
    return RunStatus(record, progress, [], Path("output.log"))


@pytest.mark.parametrize("width", [80, 100, 120, 200])
def test_done_total_failures_and_eta_fit_every_width(width: int) -> None:
    """At 80 columns and up, the count, the failures and the ETA are whole; the test name is
    shortened from its start so its function name stays."""
    line = watch_line(status(), width)
    assert len(line) <= width
    assert f"{RUN_ID} running 143/500 29% failed 3 ETA 2m30s" in line
    assert line.endswith("refund[eur-3]")
    assert ("…" in line) == (width < 200)


def test_a_bar_only_when_there_is_room() -> None:
    """The bar takes room from the test name only on wide terminals."""
    assert "━" not in watch_line(status(), 80)
    assert "━" in watch_line(status(), 200)
    assert "━" not in watch_line(status(), 200, bar=False)


def test_an_ended_run_shows_no_test_and_no_eta() -> None:
    """After the end: the counts, no test running, no ETA."""
    assert watch_line(status(RunState.FAILED), 80) == f"{RUN_ID} failed 143/500 29% failed 3 ETA -"


def test_shorten_keeps_the_end() -> None:
    """A name cut to its room keeps its last characters behind an ellipsis."""
    assert shorten("abcdef", 4) == "…def"
    assert shorten("abc", 4) == "abc"
    assert shorten("abc", 0) == ""


def test_watch_off_a_terminal_prints_plain_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped (an agent, CI): plain lines, no colour and no cursor codes, and the last one says
    how the run ended."""
    path = tmp_path / RUN_ID
    path.mkdir()
    lifecycle.create(path, RunRecord(id=RUN_ID, project="p", service="test", command=[],
                                     limits=Limits(1, 1.0, 1)))
    lifecycle.finish(path, EndFacts(exit_code=1))
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    render.watch_run(Run(RunStore(tmp_path), RUN_ID), interval=0.01)
    assert "\x1b" not in err.getvalue()
    assert err.getvalue() == f"{RUN_ID} failed 0/? failed 0 ETA -\n"


def test_runs_table_is_aligned_plain_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The history in aligned columns, a --shards parent's shards indented under it."""
    parent = RunRecord(id=RUN_ID, project="p", service="test", command=[], limits=Limits(1, 1.0, 1),
                       children=["20260101-000001-abcd"], created_at=0.0)
    child = RunRecord(id="20260101-000001-abcd", project="p", service="test", command=[],
                      limits=Limits(1, 1.0, 1), parent=RUN_ID, shard="1/1", created_at=0.0)
    render.runs_table([parent, child])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run", "state", "started", "duration", "passed", "failed", "errors",
                                "skipped", "xfailed", "xpassed", "exit"]
    assert lines[1].startswith(f"{RUN_ID}          starting")
    assert lines[2].startswith("  └ 1/1 20260101-000001-abcd  starting")
    assert len({line.index("starting") for line in lines[1:]}) == 1


def test_the_settings_table_shows_waits() -> None:
    """Each wait is shown as the service and what it waits for (it used to crash `config`)."""
    from envctl.settings import ServiceWait  # noqa: PLC0415
    from envctl.ui.render import setting_value  # noqa: PLC0415

    waits = (ServiceWait("cache", port=6379, timeout=30.0), ServiceWait("api", port=8000, http="/health"))
    assert setting_value("wait", waits) == (
        "cache: port 6379 within 30s; api: HTTP GET :8000/health answering 2xx/3xx")
    assert setting_value("wait", ()) == "none"


def test_status_runs_and_the_end_give_pytests_numbers(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A module skipped at collection, a runtime skip, xfails and an xpass: `status`, `runs` and
    the end-of-run line say what pytest said ("1 failed, 2 passed, 2 skipped, 1 deselected, 2
    xfailed, 1 xpassed"), and the finished run's done is its total."""
    run_dir = ended_run(tmp_path / "runs")
    run = Run(RunStore(tmp_path / "runs"), pytest_numbers.RUN_ID)
    text = render.status_text(run.status(lines=0))
    progress = "progress: 8/8 (100%)  passed 2  failed 1  errors 0  skipped 2  xfailed 2  xpassed 1"
    assert f"{progress}  deselected 1" in text
    end = render.final_summary(run_dir, run.record)
    assert ": 2 passed, 1 failed, 0 errors, 2 skipped, 2 xfailed, 1 xpassed, 1 deselected (exit 1)" in end
    render.runs_table([run.record])
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[-7:] == ["2", "1", "0", "2", "2", "1", "1"]  # passed ... xpassed, exit


def test_a_run_past_its_timeout_says_so_and_who_stops_it() -> None:
    """Still running 2 minutes past its timeout and the grace: how late, and how it ends."""
    late = status()
    record = RunRecord(id=RUN_ID, project="p", service="test", command=[], limits=Limits(1, 1.0, 1),
                       state=RunState.RUNNING, started_at=time.time() - 300 - 60 - 120, timeout=300)
    text = render.status_text(RunStatus(record, late.progress, [], Path("output.log"),
                                        collector_alive=False))
    assert ("note: 2m00s past its timeout of 5m00s and the grace after it; the runner in the container did "
            f"not stop it: `envctl wait {RUN_ID}` stops it") in text
    assert "past its timeout" not in render.status_text(late)


def test_status_says_the_memory_the_services_and_a_warning_in_80_columns(tmp_path: Path) -> None:
    """The sampled figures: the test container's line, the services', a warning near the limit."""
    from envctl.report.usage import Resources, Usage  # noqa: PLC0415
    from envctl.runs.resource_files import write_resources  # noqa: PLC0415

    mib = 1 << 20
    assert render.resources_lines(tmp_path) == []
    write_resources(tmp_path, Resources(
        at=1.0, test=Usage(memory=412 * mib, peak=830 * mib, limit=1 << 30, cpu=180.0, pids=37),
        services=(("cache", Usage(memory=8 * mib)), ("db", Usage(memory=120 * mib, peak=130 * mib)))))
    lines = render.resources_lines(tmp_path)
    assert lines == ["memory 412 MiB (peak 830 MiB of 1 GiB, 81%) cpu 180% pids 37",
                     "services: db 120 MiB (peak 130 MiB), cache 8 MiB",
                     "warning: the test container's memory peaked at 830 MiB, 81% of its 1 GiB limit"]
    assert all(len(line) <= 80 for line in lines)
    text = render.status_text(RunStatus(status().record, status().progress, [], tmp_path / "output.log"))
    assert "\n".join(lines) in text


def test_a_failed_hook_is_said_and_a_running_one_is_not(tmp_path: Path) -> None:
    """hook.json of a failed hook: a note in status and `hook_problem` in JSON; a hook still
    running under a live collector says nothing."""
    (tmp_path / "hook.json").write_text(json.dumps({"started_at": 1.0, "finished": True, "exit_code": 3}))
    ended = status(RunState.FAILED)
    failed = RunStatus(ended.record, ended.progress, [], tmp_path / "output.log")
    assert "note: the on_finish hook failed: exit 3 (see hook.log)" in render.status_text(failed)
    (tmp_path / "hook.json").write_text(json.dumps({"started_at": 1.0}))
    assert failed.hook_problem is None
    gone = RunStatus(ended.record, ended.progress, [], tmp_path / "output.log", collector_alive=False)
    assert gone.hook_problem == "the on_finish hook started but its outcome is unknown (its collector died)"
