"""The fault suite: the real CLI on the real engine, with something broken on purpose.

Each case asserts the end state, the exit code, what the user is told and that nothing is left.
The fixtures are the integration suite's (a throwaway copy of a fixture project per test); each
module is marked `docker` and `faults` (`pytest -m faults` runs the suite alone)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import Project, kill_all_envctl, make_project, runs_project, write_suite

__all__ = ["Project", "answer_of", "kill_all_envctl", "make_project", "runs_project", "start_detached",
           "write_suite"]


def start_detached(project: Project, *args: str, env: dict[str, str] | None = None) -> str:
    """`setsid envctl test --detach --json ARGS`: the run id, once the command has returned."""
    proc = subprocess.run(["setsid", sys.executable, "-m", "envctl", "test", "--detach", "--json", *args],
                          cwd=project.path, env=env or project.env, capture_output=True, text=True,
                          timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["id"])


def answer_of(project: Project, run_id: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """What a fresh `envctl wait RUN --json` says once the run has ended."""
    proc = subprocess.run([sys.executable, "-m", "envctl", "wait", run_id, "--json"], cwd=project.path,
                          env=env or project.env, capture_output=True, text=True, timeout=300,
                          check=False)
    view: dict[str, Any] = json.loads(proc.stdout)
    view["exit"] = proc.returncode
    return view


@pytest.fixture
def clean_after(make_project: Any) -> Iterator[list[Project]]:  # the imported fixture
    """Projects to check: after the test, `envctl down` leaves nothing of theirs on the engine."""
    projects: list[Project] = []
    yield projects
    for project in projects:
        project.envctl("down", "--volumes")
        assert project.leftovers() == {}, f"{project.name} left {project.leftovers()}"

