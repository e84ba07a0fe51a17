"""A start killed while `compose up` creates the environment, then another start at once, on a
fresh project, many times: compose goes on creating containers after its starter died, and the
next start must wait for it (the start lock is handed to compose), never race it for a
container name. Both runs end with the suite's true result; neither is an `infra-error`."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tests.faults.conftest import Project, answer_of, kill_all_envctl, start_detached, write_suite
from tests.integration.conftest import compose_pids

pytestmark = [pytest.mark.docker, pytest.mark.faults]

LOOPS = 6  # enough to land in each window; the soak (scripts/soak --fresh-project) is the heavy check
SUITE = ("def test_passes():\n    pass\n"
         "def test_fails():\n    assert 1 == 2, 'one is not two'\n")
UP_WAIT = 60.0  # seconds for the starter to reach `compose up`


def compose_up_under_way(project: str) -> bool:
    """Whether a `compose up` of ``project`` runs on this machine (found by its argv)."""
    return bool(compose_pids("up", project))


def test_a_start_killed_during_compose_up_never_breaks_the_next(runs_project: Project,
                                                                tmp_path: Path) -> None:
    """10 fresh projects: kill -9 of every envctl at a random moment of `compose up`, a second
    run started at once; both runs end `failed` with pytest's own counts."""
    write_suite(runs_project, {"test_known.py": SUITE})
    seed = random.randrange(1 << 30)  # noqa: S311  # kill points, not secrets; printed on failure
    rng = random.Random(seed)  # noqa: S311  # the same
    wrong = []
    for loop in range(LOOPS):
        assert runs_project.envctl("down", "--volumes").returncode == 0  # a fresh project
        env = {**runs_project.env, "ENVCTL_LOG_DIR": str(tmp_path / f"loop{loop}")}
        first = start_detached(runs_project, env=env)
        deadline = time.monotonic() + UP_WAIT
        while not compose_up_under_way(runs_project.name):
            assert time.monotonic() < deadline, "the starter never ran compose up"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.0))  # a random point of compose's work
        kill_all_envctl(env["ENVCTL_LOG_DIR"])
        second = start_detached(runs_project, env=env)
        for run_id in (first, second):
            view = answer_of(runs_project, run_id, env=env)
            got = (view["exit"], view["state"], view["progress"]["passed"], view["progress"]["failed"])
            if got != (1, "failed", 1, 1):
                wrong.append(f"loop {loop} run {run_id}: {got} {view.get('message')}")
    assert wrong == [], f"seed {seed}: {len(wrong)} of {2 * LOOPS} runs wrong:\n" + "\n".join(wrong)
