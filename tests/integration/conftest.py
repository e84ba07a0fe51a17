"""Integration fixtures: run the real envctl CLI against the real engine, in throwaway projects."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_PROJECT_PREFIX, leftovers, remove_leftovers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@dataclass
class Result:
    """What one envctl invocation did."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Project:
    """A copy of a fixture compose project under a unique, test-labelled project name."""

    name: str
    path: Path
    env: dict[str, str]

    def envctl(self, *args: str, timeout: float = 300, extra_env: dict[str, str] | None = None) -> Result:
        env = {**self.env, **(extra_env or {})}
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "envctl", *args], cwd=self.path, env=env,
                              capture_output=True, text=True, errors="replace", timeout=timeout,
                              check=False)
        return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)

    def leftovers(self) -> dict[str, list[str]]:
        return leftovers(self.name)


def base_env(tmp: Path) -> dict[str, str]:
    # envctl under test must not depend on the CI running the tests (CI=true turns on `wait --ci`)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ENVCTL_", "GITHUB_")) and k != "CI"}
    env["ENVCTL_LOG_DIR"] = str(tmp / "runs")
    env["ENVCTL_LOG_FORMAT"] = "json"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def write_suite(project: Project, files: dict[str, str]) -> None:
    """Replace the mounted example suite of a `runs` project with ``files``."""
    suite = project.path / "suite"
    for old in suite.glob("test_*.py"):
        old.unlink()
    for name, text in files.items():
        (suite / name).write_text(text)


@pytest.fixture
def runs_project(make_project: Any) -> Iterator[Project]:
    """The `runs` fixture project, up; down (with volumes) afterwards."""
    project = make_project("runs")
    result = project.envctl("up")
    assert result.returncode == 0, result.output
    yield project
    project.envctl("down", "--volumes")


@pytest.fixture
def make_project(tmp_path: Path) -> Iterator[object]:
    """make_project("up/healthy") -> Project; whatever a test leaves is reported, then removed."""
    made: list[Project] = []

    def make(fixture: str) -> Project:
        name = f"{TEST_PROJECT_PREFIX}{uuid.uuid4().hex[:8]}"
        path = tmp_path / name
        shutil.copytree(FIXTURES / fixture, path)
        env = base_env(tmp_path) | {"ENVCTL_PROJECT_NAME": name, "ENVCTL_HEALTH_TIMEOUT": "60s"}
        project = Project(name, path, env)
        made.append(project)
        return project

    yield make
    for project in made:
        found = project.leftovers()
        if found:
            remove_leftovers(found)
        subprocess.run(["docker", "compose", "-p", project.name, "down", "-v", "-t", "1"],
                       capture_output=True, timeout=60, check=False)


def compose_pids(verb: str, project: str) -> list[int]:
    """The pids of `docker compose VERB` processes of ``project`` on this machine (by argv)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if verb.encode() in argv and any(arg.endswith(b"compose") for arg in argv) \
                and any(project.encode() in arg for arg in argv):
            found.append(int(entry.name))
    return found


def envctl_pids(log_dir: str) -> list[int]:
    """Every process running envctl (the CLI or a collector) for this test's log dir, found by
    its argv and environment (other sessions' envctl processes on the machine are left alone)."""
    marker = f"ENVCTL_LOG_DIR={log_dir}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        is_envctl = any(a in (b"envctl", b"envctl.runs.collector") for a in argv) or \
            any(a.endswith(b"/bin/envctl") for a in argv[:2])
        try:
            ours = marker in (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if is_envctl and ours:
            pids.append(int(entry.name))
    return pids


def kill_all_envctl(log_dir: str) -> int:
    killed = 0
    for pid in envctl_pids(log_dir):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed
