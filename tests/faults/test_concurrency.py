"""Many hands at once: 8 detached runs in one project, two `up`s together, `gc` during a run, and
two checkouts of one compose project starting together."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import Project, answer_of, start_detached, write_suite

pytestmark = [pytest.mark.docker, pytest.mark.faults]

SUITE = {"test_p.py": "import pytest\n@pytest.mark.parametrize('i', range(4))\n"
                      "def test_a(i):\n    assert i != 3\n"}


def _networks(project: Project) -> list[str]:
    argv = ["docker", "network", "ls", "--filter", f"name={project.name}_", "--format", "{{.Name}}"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout.split()


def test_eight_detached_runs_at_once_each_get_their_own_result(runs_project: Project) -> None:
    """8 `test --detach` together in one project: 8 ids, each failed with 3 passed / 1 failed."""
    write_suite(runs_project, SUITE)
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _i: start_detached(runs_project), range(8)))
    assert len(set(ids)) == 8
    with ThreadPoolExecutor(4) as pool:
        views = list(pool.map(lambda run_id: answer_of(runs_project, run_id), ids))
    assert [(v["exit"], v["state"], v["progress"]["passed"], v["progress"]["failed"]) for v in views] == \
        [(1, "failed", 3, 1)] * 8
    deadline = time.monotonic() + 60
    while runs_project.leftovers().get("containers") != [f"{runs_project.name}-sidecar-1"]:
        assert time.monotonic() < deadline, runs_project.leftovers()
        time.sleep(0.5)


def test_two_ups_at_once_make_one_environment(make_project: Any) -> None:
    """Two `envctl up` together: both succeed, one network, one sidecar; `down` leaves nothing."""
    project: Project = make_project("runs")
    procs = [subprocess.Popen([sys.executable, "-m", "envctl", "up"], cwd=project.path, env=project.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=180) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert _networks(project) == [f"{project.name}_default"]
    assert project.leftovers()["containers"] == [f"{project.name}-sidecar-1"]
    assert project.envctl("down", "--volumes").returncode == 0
    assert project.leftovers() == {}


def test_gc_during_a_run_leaves_it_alone(runs_project: Project) -> None:
    """`gc --older-than 0s` while a run goes on: the run, its container and its record stay, and
    it ends with its own result."""
    write_suite(runs_project, {"test_slow.py": "import time\ndef test_slow():\n    time.sleep(4)\n"})
    run_id = start_detached(runs_project, "--", "-s")
    time.sleep(2)
    gc = runs_project.envctl("gc", "--older-than", "0s")
    assert gc.returncode == 0, gc.output
    assert run_id not in gc.stderr
    view = answer_of(runs_project, run_id)
    assert (view["exit"], view["state"], view["progress"]["passed"]) == (0, "passed", 1)


def test_two_checkouts_of_one_project_start_one_at_a_time(make_project: Any, tmp_path: Path) -> None:
    """Two checkouts (own dirs, own run dirs) with the same compose project name, started
    together on a down environment: both pass, and the project has one network."""
    first: Project = make_project("runs")
    second_path = tmp_path / "second-checkout"
    shutil.copytree(first.path, second_path)
    second = Project(first.name, second_path, {**first.env, "ENVCTL_LOG_DIR": str(tmp_path / "second-runs")})
    for project in (first, second):
        write_suite(project, SUITE)
    with ThreadPoolExecutor(2) as pool:
        ids = list(pool.map(start_detached, (first, second)))
    views = [answer_of(first, ids[0]), answer_of(second, ids[1])]
    assert [(v["exit"], v["state"]) for v in views] == [(1, "failed"), (1, "failed")]
    assert _networks(first) == [f"{first.name}_default"]
    assert first.envctl("down", "--volumes").returncode == 0
    assert first.leftovers() == {}
