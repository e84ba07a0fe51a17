"""`envctl init` on real-world compose layouts, then `config`, `up` and `test` on what it wrote.

The images build from python:3.11-slim with `pip install pytest` (containers reach a package
index here); nothing else is pulled. Every project is named by `make_project`, under the test
prefix, and torn down by it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import Project

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.docker


@pytest.fixture
def make_project(make_project: Any) -> Iterator[Any]:
    """The shared fixture, and afterwards the images these projects built removed too."""
    names: list[str] = []

    def make(fixture: str) -> Project:
        project: Project = make_project(fixture)
        names.append(project.name)
        return project

    yield make
    for name in names:
        found = subprocess.run(["docker", "images", "-q", "--filter", f"reference={name}-*"],
                               capture_output=True, text=True, timeout=60, check=False).stdout.split()
        if found:
            subprocess.run(["docker", "rmi", "-f", *found], capture_output=True, timeout=120, check=False)


def init_up_test(project: Project, *init_args: str, extra_env: dict[str, str] | None = None) -> str:
    """init (its summary back), then config, up and test on the result; test must pass."""
    made = project.envctl("init", *init_args, extra_env=extra_env)
    assert made.returncode == 0, made.output
    assert project.envctl("config").returncode == 0
    up = project.envctl("up", timeout=240)
    assert up.returncode == 0, up.output
    run = project.envctl("test", timeout=240)
    assert run.returncode == 0, run.output
    assert "1 passed" in run.output, run.output
    assert "test session starts" not in run.output  # -q, as the service's own command says
    assert (project.path / ".gitignore").read_text().count(".envctl/") == 1
    project.envctl("down", "--volumes")
    return made.stdout


def test_the_typical_project_keeps_the_tests_command(make_project: Any) -> None:
    """db healthy, cache waited for on its port, `tests` runs its own `pytest -q tests` (a plain
    `pytest` would collect other/ and fail)."""
    project = make_project("init/typical")
    summary = init_up_test(project)
    data = tomllib.loads((project.path / "envctl.toml").read_text())
    assert data == {"test_service": "tests", "test_command": ["pytest", "-q", "tests"],
                    "wait": {"cache": {"port": 6379}}}
    assert "its command kept as test_command: pytest -q tests" in summary
    assert "health checks: db" in summary and "envctl test --detach" in summary


def test_compose_under_docker_with_a_test_profile(make_project: Any) -> None:
    """Found through the environment once; the written compose_files make later runs find it."""
    project = make_project("init/docker_folder")
    summary = init_up_test(project, extra_env={"ENVCTL_COMPOSE_FILES": "docker/compose.yml"})
    data = tomllib.loads((project.path / "envctl.toml").read_text())
    assert data == {"test_service": "suite", "compose_files": ["docker/compose.yml"],
                    "test_command": ["python", "-m", "pytest", "-q", "-m", "marker", "tests"]}
    assert "test service:  suite" in summary


def test_no_test_service_gets_one_written(make_project: Any) -> None:
    """Without --test-service: a clear error that names it; with it: a working `test` service."""
    project = make_project("init/no_test_service")
    refused = project.envctl("init")
    assert refused.returncode != 0 and "--test-service" in refused.output
    assert not (project.path / "envctl.toml").exists()
    (project.path / "pytest.ini").write_text("[pytest]\naddopts = -q\n")
    summary = init_up_test(project, "--test-service")
    data = tomllib.loads((project.path / "envctl.toml").read_text())
    assert data["compose_files"] == ["compose.yaml", "compose.envctl.yaml"]
    assert "FROM python:3.11-slim" in (project.path / "Dockerfile.test").read_text()
    assert "condition: service_healthy" in (project.path / "compose.envctl.yaml").read_text()
    assert "new, in compose.envctl.yaml" in summary
