"""The test container is not trusted: what it plants in its exchange folder is never followed,
executed, or taken as a setting, path or option (issue 9, item 2), on the real engine."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.integration.conftest import write_suite

pytestmark = pytest.mark.docker

PLANTER = '''
import os, stat

def pytest_unconfigure(config):
    """After pytest wrote its reports: replace them with what a hostile test would leave."""
    box = "/envctl-run"
    secret = open("/suite/secret_path").read().strip()
    for name in ("timeout.json", "output.log", "collector.log", "output.tail.0", "run.json"):
        path = os.path.join(box, name)
        if os.path.lexists(path):
            os.remove(path)
        os.symlink(secret, path)
    os.remove(os.path.join(box, "events.jsonl"))
    os.mkfifo(os.path.join(box, "events.jsonl"))
    os.remove(os.path.join(box, "progress.json"))
    os.symlink("/dev/zero", os.path.join(box, "progress.json"))
    with open(os.path.join(box, "junit.xml"), "w") as handle:
        handle.write('<testsuites><testsuite><testcase classname="" name="-pevil_plugin">'
                     '<failure message="planted"/></testcase></testsuite></testsuites>')
    try:
        os.mknod(os.path.join(box, "zero"), 0o666 | stat.S_IFCHR, os.makedev(1, 5))
        print("MKNOD-ALLOWED")
    except OSError:
        print("MKNOD-REFUSED")
    try:
        open("/envctl-in/attached", "w").write("x")
        print("INPUT-WRITABLE")
    except OSError:
        print("INPUT-READ-ONLY")
'''


def test_planted_links_fifos_and_names_are_refused(runs_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Links to a host file, a FIFO, /dev/zero and an option-shaped test name, left by the tests:
    the run still ends, the host file is untouched and never printed, the name is never an option."""
    secret = tmp_path / "host-secret.txt"
    secret.write_text("HOST-SECRET-CONTENT\n")
    write_suite(runs_project, {"test_ok.py": "def test_a():\n    pass\n", "conftest.py": PLANTER})
    (runs_project.path / "suite" / "secret_path").write_text(str(secret))
    started = time.monotonic()
    result = runs_project.envctl("test", "--", "-s", timeout=180)
    assert time.monotonic() - started < 120  # no FIFO hung the collector
    assert result.returncode == 0, result.output
    assert "MKNOD-REFUSED" in result.stdout
    assert "INPUT-READ-ONLY" in result.stdout
    assert secret.read_text() == "HOST-SECRET-CONTENT\n"
    runs = Path(runs_project.env["ENVCTL_LOG_DIR"])
    run_id = json.loads(runs_project.envctl("runs", "--json").stdout)["runs"][-1]["run"]
    record = json.loads((runs / run_id / "run.json").read_text())
    assert record["state"] == "passed"  # the planted timeout marker was not believed
    assert "results not read: events.jsonl" in record["message"]
    for command in (["status", run_id], ["logs", run_id], ["report", run_id, "--format", "junit"],
                    ["wait", run_id, "--ci"]):
        shown = runs_project.envctl(*command, timeout=60)
        assert "HOST-SECRET-CONTENT" not in shown.output, command
    assert runs_project.envctl("status", run_id, timeout=30).returncode == 0
    rerun = runs_project.envctl("test", "--rerun-failed", run_id, timeout=60)
    assert rerun.returncode == 0, rerun.output
    assert "not rerunning 1 test id(s)" in rerun.stderr
    assert "'-pevil_plugin'" in rerun.stderr
    assert "nothing failed" in rerun.stderr
