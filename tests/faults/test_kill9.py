"""kill -9 of every envctl process at each transition of a run's lifecycle, 20 times each: the
result a fresh `envctl wait` gives is always the run's true one, and nothing is left behind.

The four lanes (one per kill point) run at once, each with its own run directory, so killing
one lane's envctl processes never touches another's."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from envctl.runs.container import container_name
from envctl.runs.launch import creation_under_way
from tests.faults.conftest import Project, answer_of, kill_all_envctl, start_detached, write_suite

pytestmark = [pytest.mark.docker, pytest.mark.faults]

LOOPS = 12  # enough to land in each window; the soak (scripts/soak, 300 runs) is the heavy check
SUITE = ("import time\n"
         "def test_passes():\n    pass\n"
         "def test_fails():\n    assert 1 == 2, 'one is not two'\n"
         "def test_takes_a_second():\n    time.sleep(1)\n")
WAIT = 60.0


def _record(run_dir: Path) -> dict[str, object]:
    try:
        return dict(json.loads((run_dir / "run.json").read_text()))
    except (OSError, ValueError):
        return {}


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"never reached: {what}")
        time.sleep(0.01)


def before_the_container(_project: Project, _run_dir: Path, _events: subprocess.Popen[str]) -> None:
    """At once: the background starter may not even have begun."""


def while_compose_creates_it(project: Project, run_dir: Path, _events: subprocess.Popen[str]) -> None:
    """While `docker compose run` is creating the container (or, if it was quicker than we
    look, just after)."""
    name = container_name(project.name, "test", run_dir.name)
    _until(lambda: creation_under_way(name) is True or _record(run_dir).get("state") != "starting",
           "compose run under way")


def mid_run(_project: Project, run_dir: Path, _events: subprocess.Popen[str]) -> None:
    """While pytest runs: the record says running and the log has begun."""
    _until(lambda: _record(run_dir).get("state") == "running"
           and (run_dir / "output.log").exists() and (run_dir / "output.log").stat().st_size > 0,
           "running with output")


def after_the_exit(project: Project, run_dir: Path, events: subprocess.Popen[str]) -> None:
    """The engine's `die` event for this run's test container (the other lanes' come on the same
    stream): it has exited, and its record is not final yet."""
    assert events.stdout is not None
    name = container_name(project.name, "test", run_dir.name)
    for line in events.stdout:
        if line.strip() == name:
            return
    raise AssertionError(f"no die event for {name}")


KILL_POINTS = {f.__name__: f for f in (before_the_container, while_compose_creates_it, mid_run,
                                        after_the_exit)}


def lane(project: Project, point: str, log_dir: Path) -> list[str]:
    """LOOPS runs killed at ``point``: what was wrong with each (nothing, we expect)."""
    env = {**project.env, "ENVCTL_LOG_DIR": str(log_dir)}
    wrong = []
    for loop in range(LOOPS):
        # The die event is watched from before the start, so a quick exit cannot be missed.
        events = subprocess.Popen(["docker", "events", "--filter", "event=die", "--filter",
                                   f"label=com.docker.compose.project={project.name}", "--filter",
                                   "label=com.docker.compose.oneoff=True", "--format",
                                   "{{.Actor.Attributes.name}}"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            run_id = start_detached(project, env=env)
            KILL_POINTS[point](project, log_dir / run_id, events)
            kill_all_envctl(str(log_dir))
        finally:
            events.kill()
            events.communicate()
        view = answer_of(project, run_id, env=env)
        log = (log_dir / run_id / "output.log").read_text(errors="replace")
        got = (view["exit"], view["state"], view["progress"]["passed"], view["progress"]["failed"],
               "test session starts" in log, "1 failed, 2 passed" in log)
        if got != (1, "failed", 2, 1, True, True):
            wrong.append(f"{point} #{loop} {run_id}: {got} {view.get('message')}")
    return wrong


def test_kill_9_at_every_transition_loses_no_result(runs_project: Project, tmp_path: Path) -> None:
    """4 kill points x 20 runs: 0 lost or wrong results; no test container is left."""
    write_suite(runs_project, {"test_known.py": SUITE})
    with ThreadPoolExecutor(len(KILL_POINTS)) as pool:
        lanes = {point: pool.submit(lane, runs_project, point, tmp_path / point) for point in KILL_POINTS}
        wrong = [problem for future in lanes.values() for problem in future.result()]
    assert wrong == [], f"{len(wrong)} of {LOOPS * len(KILL_POINTS)} runs wrong:\n" + "\n".join(wrong)
    deadline = time.monotonic() + WAIT
    while runs_project.leftovers().get("containers") != [f"{runs_project.name}-sidecar-1"]:
        assert time.monotonic() < deadline, runs_project.leftovers()
        time.sleep(0.5)
