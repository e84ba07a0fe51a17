"""`envctl test --host`: pytest on this machine against the running environment, recorded as any
run: the services' addresses in its environment, status (on this machine, limits applied), the
failures, a rerun of them, the report, an OOM kill inside the run's cgroup, and nothing left
behind (no cgroup, no process) while the environment stays up."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from envctl.schemas import load
from tests.integration.conftest import Project

pytestmark = pytest.mark.docker

SUITE = '''
import os
import urllib.request

def test_web_answers(envctl_services):
    with urllib.request.urlopen(envctl_services["web"].url, timeout=10) as answer:
        assert answer.status == 200

def test_the_variables_name_the_services():
    assert os.environ["ENVCTL_WEB_URL"] == "http://127.0.0.1:" + os.environ["ENVCTL_WEB_PORT"]

def test_fails():
    assert os.environ.get("FIXED") == "yes"
'''
EATER = '''
def test_small():
    pass

def test_eats():
    blocks = [bytearray(16 << 20) for _ in range(64)]
    assert blocks
'''
ROOT = os.geteuid() == 0  # a cgroup (the limits) is made as root here; a user gets a note instead


def _status(project: Project, run: str = "latest") -> dict[str, Any]:
    found = project.envctl("status", run, "--json")
    assert found.returncode == 0, found.output
    data: dict[str, Any] = json.loads(found.stdout)
    jsonschema.Draft202012Validator(load("status")).validate(data)
    return data


def _cgroups_left(run_id: str) -> list[Path]:
    return list(Path("/sys/fs/cgroup").glob(f"*/envctl/envctl-{run_id}")) + \
        list(Path("/sys/fs/cgroup").glob(f"envctl/envctl-{run_id}"))


def test_a_host_run_is_a_run_like_any_other(make_project: Any) -> None:
    """Foreground: the failure, its status on this machine with limits, failures and a rerun of
    them; an OOM kill in the cgroup names the test; the environment stays up, nothing is left."""
    project = make_project("hostenv")
    (project.path / "tests_host").mkdir()
    (project.path / "tests_host" / "test_host.py").write_text(SUITE)
    (project.path / "tests_oom").mkdir()
    (project.path / "tests_oom" / "test_oom.py").write_text(EATER)
    try:
        run = project.envctl("test", "--host", "--", "-p", "envctl.hostenv", "-q", "tests_host")
        assert run.returncode == 1, run.output
        assert "1 failed, 2 passed" in run.output
        status = _status(project)
        run_id = status["run"]
        assert (status["state"], status["on_host"], status["exit_code"]) == ("failed", True, 1)
        assert (status["progress"]["passed"], status["progress"]["failed"]) == (2, 1)
        assert (status["limits_not_applied"] is None) is ROOT
        text = project.envctl("status", run_id)
        assert ("on this machine: limits applied (a cgroup of its own)" in text.stdout) is ROOT, text.output
        failures = project.envctl("failures", run_id, "--json")
        assert [f["test"] for f in json.loads(failures.stdout)["failures"]] == \
            ["tests_host/test_host.py::test_fails"]

        rerun = project.envctl("test", "--host", "--rerun-failed", run_id, extra_env={"FIXED": "yes"})
        assert rerun.returncode == 0, rerun.output
        again = _status(project)
        assert (again["state"], again["on_host"], again["progress"]["total"]) == ("passed", True, 1)
        report = json.loads(project.envctl("report", run_id, "--format", "json").stdout)
        assert (report["state"], report["counts"]["passed"], report["counts"]["failed"]) == ("failed", 2, 1)
        assert _cgroups_left(run_id) == []

        if ROOT:
            oom = project.envctl("test", "--host", "--memory", "96m", "--", "-q", "tests_oom")
            assert oom.returncode == 21, oom.output
            eaten = _status(project)
            assert eaten["state"] == "oom-killed"
            assert eaten["message"].startswith("the tests ran out of memory (their cgroup's limit) and were "
                                               "killed while running tests_oom/test_oom.py::test_eats")
            assert _cgroups_left(eaten["run"]) == []
        services = json.loads(project.envctl("env", "--json").stdout)["services"]
        assert sorted((s["service"], s["status"]) for s in services) == [("raw-tcp", "running"),
                                                                           ("web", "running")]
    finally:
        project.envctl("down", "--volumes")
