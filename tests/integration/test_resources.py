"""Resources while the run goes, on the real engine: a memory-hungry test's peak seen in status
while the run goes and after, the services sampled, the 80% warning in status, report and
`wait --ci`, the test that grew memory the most, and an OOM kill that names its peak."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from envctl.errors import ExitCode
from envctl.report.usage import binary_size
from tests.integration.conftest import write_suite

pytestmark = pytest.mark.docker

MIB = 1 << 20
HUNGRY = """import time


def test_small():
    time.sleep(1.5)


def test_hungry():
    block = bytearray(280 * 1024 * 1024)
    for i in range(0, len(block), 4096):  # every page touched: resident, counted by the cgroup
        block[i] = 1
    time.sleep(4)  # a few samples see it
    assert block[4096] == 1


def test_after():
    time.sleep(2.5)
"""


def test_a_hungry_tests_peak_is_seen_while_the_run_goes_and_after(runs_project) -> None:  # type: ignore[no-untyped-def]
    """280 MiB allocated under a 384 MiB limit: status shows the memory while the tests run, the
    peak near what was allocated, the sidecar sampled, a warning at 80% (status, report, the
    ::warning of `wait --ci`), and test_hungry first among the tests that grew memory."""
    write_suite(runs_project, {"test_hungry.py": HUNGRY})
    started = runs_project.envctl("test", "--detach", "--json", "--memory", "384m")
    assert started.returncode == 0, started.output
    run_id = json.loads(started.stdout)["id"]
    deadline = time.monotonic() + 60
    live: dict[str, object] = {}
    while time.monotonic() < deadline:
        live = json.loads(runs_project.envctl("status", run_id, "--json").stdout)
        if live["state"] == "running" and live["resources"] is not None:
            break
        time.sleep(0.3)
    assert live["state"] == "running", live
    assert live["resources"]["test"]["memory"] > 0  # type: ignore[index]
    assert live["resources"]["test"]["limit"] == 384 * MIB  # type: ignore[index]

    waited = runs_project.envctl("wait", run_id)
    assert waited.returncode == 0, waited.output
    status = json.loads(runs_project.envctl("status", run_id, "--json").stdout)
    test = status["resources"]["test"]
    assert 280 * MIB <= test["peak"] <= 384 * MIB, test
    assert test["working_set"] <= test["memory"]
    assert "sidecar" in status["resources"]["services"]
    assert status["resources"]["warnings"] == [
        f"the test container's memory peaked at {binary_size(test['peak'])}, "
        f"{test['peak'] / (384 * MIB):.0%} of its 384 MiB limit"]

    text = runs_project.envctl("status", run_id).stdout
    line = next(line for line in text.splitlines() if line.startswith("memory "))
    assert re.fullmatch(r"memory \d+(\.\d)? [KMG]i?B \(peak \d+ MiB of 384 MiB, \d+%\) cpu \d+% pids \d+",
                        line), line
    assert len(line) <= 80
    assert "warning: the test container's memory peaked at" in text

    report = json.loads(runs_project.envctl("report", run_id, "--format", "json").stdout)
    assert report["memory_growth"][0]["test"] == "test_hungry.py::test_hungry"
    assert report["memory_growth"][0]["grew"] >= 270 * MIB
    assert "### Most memory growth" in runs_project.envctl("report", run_id).stdout

    summary = Path(runs_project.env["ENVCTL_LOG_DIR"]) / "summary.md"
    ci = runs_project.envctl("wait", run_id, "--ci", extra_env={
        "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert ci.returncode == 0, ci.output
    assert ("::warning title=envctl%3A memory near its limit::the test container's memory peaked at"
            in ci.stdout)
    assert "> **Warning:** the test container's memory peaked at" in summary.read_text()


def test_an_oom_kill_names_its_peak_and_the_test(runs_project) -> None:  # type: ignore[no-untyped-def]
    """A test that grows past a 128 MiB limit, a few MiB at a time: oom-killed, naming the test
    and the memory's peak of that limit."""
    write_suite(runs_project, {"test_grow.py": (
        "import time\n\n\ndef test_grow():\n    kept = []\n    for _ in range(200):\n"
        "        kept.append(bytearray(4 * 1024 * 1024))\n        time.sleep(0.03)\n")})
    result = runs_project.envctl("test", "--memory", "128m")
    assert result.returncode == ExitCode.OOM_KILLED, result.output
    said = re.search(r"ran out of memory and was killed while running test_grow\.py::test_grow "
                     r"\(memory peaked at \d+(\.\d)? MiB of its 128 MiB limit\)", result.stderr)
    assert said, result.stderr
