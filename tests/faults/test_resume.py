"""`envctl test --resume` on the real engine: a run cut short by its timeout is resumed with
exactly the tests it did not finish, and the two read as one run; a resume of a resumed run
whose collector was killed mid-run (kill -9, taken over by `wait`) ends the suite whole; a
--shards run resumes the shard cut short and keeps the other."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from envctl.pytest_plugin.envctl_shards import split
from tests.faults.conftest import Project, answer_of, kill_all_envctl, start_detached, write_suite

pytestmark = [pytest.mark.docker, pytest.mark.faults]



def _body(n: int) -> str:
    """test_03 fails; test_08 and test_15 wait while their flag file is in the suite folder (not
    a .py file: removing one changes nothing the fingerprint compares); the others pass."""
    if n == 3:
        return "assert 0, 'three fails'"
    return f"slow_while('slow_{n:02d}')" if n in (8, 15) else "pass"


SUITE = ("import os\nimport time\n\n\ndef slow_while(flag):\n    while os.path.exists(flag):\n"
         "        time.sleep(0.2)\n" + "".join(f"\n\ndef test_{n:02d}():\n    {_body(n)}\n"
                                         for n in range(1, 21)))
IDS = [f"test_resume.py::test_{n:02d}" for n in range(1, 21)]


def ended(project: Project, *args: str) -> tuple[str, dict[str, Any]]:
    """A detached run of ``args`` and what `wait --json` says once it has ended."""
    run_id = start_detached(project, *args)
    return run_id, answer_of(project, run_id)


def run_dir(project: Project, run_id: str) -> Path:
    return Path(project.env["ENVCTL_LOG_DIR"]) / run_id


def started_in_own_part(project: Project, run_id: str) -> list[str]:
    """The tests a resumed run itself started: the start events after its own `part` line."""
    text = (run_dir(project, run_id) / "events.jsonl").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    own = next(i for i, line in enumerate(lines) if line.get("kind") == "part" and line.get("run") == run_id)
    return [line["nodeid"] for line in lines[own:] if line.get("kind") == "start"]


def report(project: Project, run_id: str) -> dict[str, Any]:
    result = project.envctl("report", run_id, "--json")
    assert result.returncode == 0, result.output
    return dict(json.loads(result.stdout))


def junit_runs(project: Project, run_id: str) -> dict[str, str]:
    """Each test of the run's JUnit report and the run it came from (its `envctl.run`)."""
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    root = ET.parse(run_dir(project, run_id) / "junit.xml").getroot()  # noqa: S314  # envctl's own report
    return {f"{case.get('file')}::{case.get('name')}": next(
        p.get("value", "") for p in case.iter("property") if p.get("name") == "envctl.run")
        for case in root.iter("testcase")}


def test_a_timed_out_run_resumes_exactly_what_was_left(runs_project: Project) -> None:
    """Cut by --timeout in test_08: the resume runs test_08..test_20 (by their node ids), the
    report holds all 20 with pytest's counts and each test's run; editing a test file refuses a
    resume (28) and --force goes; a resumed run that ended by itself has nothing to resume (27)."""
    write_suite(runs_project, {"test_resume.py": SUITE})
    (runs_project.path / "suite" / "slow_08").touch()
    first, view = ended(runs_project, "--timeout", "10s")
    assert (view["state"], view["exit"]) == ("timed-out", 20), view
    (runs_project.path / "suite" / "slow_08").unlink()

    suite = runs_project.path / "suite" / "test_resume.py"
    suite.write_text(suite.read_text() + "\n# edited\n")
    refused = runs_project.envctl("test", "--resume", first, "--detach")
    assert refused.returncode == 28, refused.output
    assert "the project's test code changed" in refused.stderr
    assert "--force" in refused.stderr

    forced = runs_project.envctl("test", "--resume", first, "--force", "--timeout", "5m", timeout=600)
    assert forced.returncode == 1, forced.output  # test_03 failed in the first part
    assert f"resuming run {first}: 13 test(s) left of 20 (1 running when it ended, 12 never started)" \
        in forced.stderr
    resumed = json.loads(runs_project.envctl("status", "--json").stdout)["run"]  # the latest
    assert started_in_own_part(runs_project, resumed) == IDS[7:]
    whole = report(runs_project, resumed)
    assert (whole["state"], whole["exit_code"]) == ("failed", 1)
    counts = whole["counts"]
    assert (counts["total"], counts["passed"], counts["failed"], counts["done"]) == (20, 19, 1, 20)
    assert [f["test"] for f in whole["failures"]] == [IDS[2]]
    assert junit_runs(runs_project, resumed) == {i: first if n < 7 else resumed for n, i in enumerate(IDS)}
    failures = json.loads(runs_project.envctl("failures", resumed, "--json").stdout)["failures"]
    assert [f["test"] for f in failures] == [IDS[2]]

    nothing = runs_project.envctl("test", "--resume", resumed)
    assert nothing.returncode == 27, nothing.output
    assert f"run {resumed} failed: it ended by itself (pytest exited 1)" in nothing.stderr


def test_a_resume_of_a_resumed_run_survives_a_killed_collector(runs_project: Project) -> None:
    """A cut at test_08; its resume cut at test_15 with every envctl process killed mid-run
    (`wait` takes it over); the resume of that resume runs test_15..test_20, and its report is
    the whole suite, each test with the run that ran it."""
    write_suite(runs_project, {"test_resume.py": SUITE})
    for flag in ("slow_08", "slow_15"):
        (runs_project.path / "suite" / flag).touch()
    first, view = ended(runs_project, "--timeout", "10s")
    assert view["state"] == "timed-out", view
    (runs_project.path / "suite" / "slow_08").unlink()

    second = start_detached(runs_project, "--resume", first, "--timeout", "15s")
    deadline = time.monotonic() + 120
    while IDS[14] not in _started(runs_project, second):
        assert time.monotonic() < deadline, "test_15 never started"
        time.sleep(0.2)
    assert kill_all_envctl(runs_project.env["ENVCTL_LOG_DIR"]) >= 1
    view = answer_of(runs_project, second)  # takes the run over
    assert (view["state"], view["exit"]) == ("timed-out", 20), view
    (runs_project.path / "suite" / "slow_15").unlink()

    third, view = ended(runs_project, "--resume", second, "--timeout", "5m")
    assert (view["state"], view["exit"]) == ("failed", 1), view
    assert started_in_own_part(runs_project, third) == IDS[14:]
    whole = report(runs_project, third)
    assert (whole["counts"]["total"], whole["counts"]["passed"], whole["counts"]["failed"]) == (20, 19, 1)
    owners = junit_runs(runs_project, third)
    assert owners == {i: first if n < 7 else second if n < 14 else third for n, i in enumerate(IDS)}
    deadline = time.monotonic() + 60  # the test containers go once their runs are recorded
    while runs_project.leftovers().get("containers") != [f"{runs_project.name}-sidecar-1"]:
        assert time.monotonic() < deadline, runs_project.leftovers()
        time.sleep(0.5)


def test_a_shards_run_resumes_the_shard_cut_short(runs_project: Project) -> None:
    """2 shards (odd and even tests): the even one cut at test_08; the resume is a new parent
    whose even shard runs exactly its remainder and whose odd shard is the first one, kept; the
    merged report is the whole suite, failed for test_03."""
    write_suite(runs_project, {"test_resume.py": SUITE})
    (runs_project.path / "suite" / "slow_08").touch()
    first, view = ended(runs_project, "--shards", "2", "--timeout", "10s")
    assert (view["state"], view["exit"]) == ("timed-out", 20), view
    (runs_project.path / "suite" / "slow_08").unlink()
    odd, even = split(IDS, 2)
    assert IDS[7] in even and IDS[2] in odd

    second, view = ended(runs_project, "--resume", first, "--timeout", "5m")
    assert (view["state"], view["exit"]) == ("failed", 1), view
    parent = json.loads((run_dir(runs_project, second) / "run.json").read_text())
    shards = json.loads((run_dir(runs_project, first) / "run.json").read_text())["children"]
    assert (parent["resumes"], parent["children"][0]) == (first, shards[0])
    resumed = json.loads((run_dir(runs_project, parent["children"][1]) / "run.json").read_text())
    assert (resumed["resumes"], resumed["shard"], resumed["parent"]) == (shards[1], "2/2", second)
    assert started_in_own_part(runs_project, resumed["id"]) == [i for i in even if IDS.index(i) >= 7]
    whole = report(runs_project, second)
    assert (whole["counts"]["total"], whole["counts"]["passed"], whole["counts"]["failed"]) == (20, 19, 1)


def _started(project: Project, run_id: str) -> set[str]:
    """Tests a running run has started (its live events, in the exchange folder)."""
    path = Path(project.env["ENVCTL_LOG_DIR"]) / ".exchange" / run_id / "events.jsonl"
    try:
        text = path.read_text()
    except OSError:
        return set()
    return {json.loads(line).get("nodeid") for line in text.splitlines() if '"start"' in line}
