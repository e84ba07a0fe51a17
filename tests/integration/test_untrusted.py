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


PROBER = '''
import json, os

LOG = "/proj/.envctl/runs"


def _run_id():
    """The run's id, from the exchange folder's mount (its source path ends in it)."""
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        if fields[4] == "/envctl-run":
            return os.path.basename(fields[3])
    raise AssertionError("no exchange mount")


def test_the_log_dir_is_hidden():
    print("LOG-DIR-LISTING", json.dumps(sorted(os.listdir(LOG))))
    run_id = _run_id()
    os.makedirs(os.path.join(LOG, run_id), exist_ok=True)
    with open(os.path.join(LOG, run_id, "start.json"), "w") as handle:
        handle.write('{"PLANTED": true}')
    exchange = os.path.join(LOG, ".exchange")
    os.makedirs(exchange, exist_ok=True)
    victim = open("/proj/suite/victim_path").read().strip()
    link = os.path.join(exchange, run_id + ".new")
    os.symlink(victim, link)
    os.replace(link, os.path.join(exchange, run_id))
    print("PLANTED-IN", run_id)
'''


def test_a_log_dir_inside_a_mounted_project_is_hidden_from_the_tests(make_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The project mounted whole and read-write, the log dir in it: the tests see an empty folder
    there; what they write or link there never reaches the host's run or a folder outside."""
    project = make_project("runs")
    compose = project.path / "compose.yaml"
    compose.write_text(compose.read_text().replace('volumes: ["./suite:/suite"]', 'volumes: [".:/proj"]')
                       .replace("working_dir: /suite", "working_dir: /proj/suite"))
    log_dir = project.path / ".envctl" / "runs"
    project.env["ENVCTL_LOG_DIR"] = str(log_dir)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("VICTIM\n")
    write_suite(project, {"test_probe.py": PROBER})
    (project.path / "suite" / "victim_path").write_text(str(victim))
    try:
        assert project.envctl("up").returncode == 0
        result = project.envctl("test", "--", "-s", timeout=180)
        assert result.returncode == 0, result.output
        assert 'LOG-DIR-LISTING []' in result.stdout
        run_id = json.loads(project.envctl("runs", "--json").stdout)["runs"][-1]["run"]
        assert f"PLANTED-IN {run_id}" in result.stdout
        start = json.loads((log_dir / run_id / "start.json").read_text())
        assert "PLANTED" not in start and start["project"] == project.name
        assert json.loads((log_dir / run_id / "run.json").read_text())["state"] == "passed"
        assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
        assert (victim / "keep.txt").read_text() == "VICTIM\n"
        assert not (log_dir / ".exchange" / run_id).exists()  # cleaned up with the run's end
    finally:
        project.envctl("down", "--volumes")
