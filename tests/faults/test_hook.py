"""The on_finish hook where a kill can land: every envctl process killed with kill -9 right after
the test container's exit, while the hook runs, and while a --shards run's shards end; each run
then taken over by a fresh `envctl wait`. The hook runs exactly once per run (never for a shard),
told the run's true result, and the result is the run's own whatever the hook did."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from envctl.runs.hook_outcome import read_outcome
from envctl.runs.store import HOOK_FILE
from tests.faults.conftest import Project, answer_of, kill_all_envctl, start_detached, write_suite
from tests.faults.test_kill9 import SUITE, after_the_exit

pytestmark = [pytest.mark.docker, pytest.mark.faults]

LOOPS = 6  # each kill point several times; the soak (scripts/soak) is the heavy check
WAIT = 60.0
# One line a call: id, state, exit code, summary; with HOOK_HOLD set, it then sleeps that long
# and says it is done (a line that only a hook left running on its own can write).
HOOK = """#!/bin/sh
printf '%s %s %s %s\\n' "$ENVCTL_RUN_ID" "$ENVCTL_RUN_STATE" "$ENVCTL_EXIT_CODE" \\
    "$ENVCTL_SUMMARY" >> "$HOOK_OUT"
if [ -n "$HOOK_HOLD" ]; then
    sleep "$HOOK_HOLD"
    echo "done $ENVCTL_RUN_ID" >> "$HOOK_OUT"
fi
"""


def hooked(project: Project, tmp_path: Path, *, hold: str = "") -> tuple[dict[str, str], Path, Path]:
    """The project's environment with the hook set (as a variable, as a user would), a log dir
    of its own (so a kill touches only this test's processes), and where the hook writes."""
    script, out, log_dir = tmp_path / "hook.sh", tmp_path / "hook.out", tmp_path / "hooked-runs"
    script.write_text(HOOK)
    env = {**project.env, "ENVCTL_LOG_DIR": str(log_dir), "ENVCTL_ON_FINISH": f"sh {script}",
           "HOOK_OUT": str(out), "HOOK_HOLD": hold}
    return env, log_dir, out


def calls(out: Path) -> list[list[str]]:
    return [line.split(" ", 3) for line in out.read_text().splitlines()] if out.exists() else []


def until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"never reached: {what}")
        time.sleep(0.01)


def record(run_dir: Path) -> dict[str, object]:
    try:
        return dict(json.loads((run_dir / "run.json").read_text()))
    except (OSError, ValueError):
        return {}


def test_the_hook_runs_once_per_run_when_collectors_die_at_the_exit(runs_project: Project,
                                                                     tmp_path: Path) -> None:
    """10 runs, every envctl process killed at the container's `die` event: each run's end is
    recorded by the collector `wait` starts, and the hook ran once for each, told `failed`,
    exit 1 and pytest's numbers."""
    write_suite(runs_project, {"test_known.py": SUITE})
    env, log_dir, out = hooked(runs_project, tmp_path)
    ids, wrong = [], []
    for loop in range(LOOPS):
        events = subprocess.Popen(["docker", "events", "--filter", "event=die", "--filter",
                                   f"label=com.docker.compose.project={runs_project.name}", "--filter",
                                   "label=com.docker.compose.oneoff=True", "--format",
                                   "{{.Actor.Attributes.name}}"], stdout=subprocess.PIPE, text=True)
        try:
            run_id = start_detached(runs_project, env=env)
            after_the_exit(runs_project, log_dir / run_id, events)
            kill_all_envctl(str(log_dir))
        finally:
            events.kill()
            events.communicate()
        ids.append(run_id)
        view = answer_of(runs_project, run_id, env=env)
        if (view["exit"], view["state"]) != (1, "failed"):
            wrong.append(f"#{loop} {run_id}: {view['exit']} {view['state']} {view.get('message')}")
    assert wrong == []
    # `wait` returns once the run is cleaned, and the hook runs before the clean-up.
    assert Counter(call[0] for call in calls(out)) == Counter(ids)
    for run_id, state, code, summary in calls(out):
        assert (state, code) == ("failed", "1")
        assert summary.startswith(f"run {run_id} failed: 1 failed, 2 passed in "), summary
        assert (log_dir / run_id / HOOK_FILE).exists()


def test_a_collector_killed_while_its_hook_runs_is_replaced_and_the_hook_is_not_run_again(
        runs_project: Project, tmp_path: Path) -> None:
    """The hook has begun (its first line is there) when every envctl process is killed: the
    hook goes on alone to its end, `wait` records nothing new of it and returns the run's own
    result; hook.json says it started, with no outcome; nothing is left on the engine."""
    write_suite(runs_project, {"test_known.py": SUITE})
    env, log_dir, out = hooked(runs_project, tmp_path, hold="3")
    run_id = start_detached(runs_project, env=env)
    until(lambda: len(calls(out)) == 1, "the hook begun")
    kill_all_envctl(str(log_dir))
    view = answer_of(runs_project, run_id, env=env)
    assert (view["exit"], view["state"]) == (1, "failed")
    until(lambda: len(calls(out)) == 2, "the hook left alone done")
    assert [call[0] for call in calls(out)] == [run_id, "done"]
    outcome = read_outcome(log_dir / run_id)
    assert outcome is not None
    assert (outcome.finished, outcome.problem()) == \
        (False, "the on_finish hook started but its outcome is unknown (its collector died)")
    until(lambda: runs_project.leftovers().get("containers") == [f"{runs_project.name}-sidecar-1"],
          "the test container removed")


def test_a_shards_run_calls_the_hook_once_for_the_whole_run(runs_project: Project, tmp_path: Path) -> None:
    """--shards 2, every envctl process killed once a shard has ended: the hook is called once,
    for the parent, told the merged result; never for a shard."""
    write_suite(runs_project, {"test_known.py": SUITE, "test_more.py": "def test_more():\n    pass\n"})
    env, log_dir, out = hooked(runs_project, tmp_path)
    parent = start_detached(runs_project, "--shards", "2", env=env)

    def a_shard_ended() -> bool:
        children = record(log_dir / parent).get("children") or []
        assert isinstance(children, list)
        return any(record(log_dir / child).get("state") not in (None, "starting", "running", "collecting")
                   for child in children)

    until(a_shard_ended, "a shard ended")
    kill_all_envctl(str(log_dir))
    view = answer_of(runs_project, parent, env=env)
    assert (view["exit"], view["state"]) == (1, "failed")
    until(lambda: len(calls(out)) >= 1, "the parent's hook")
    got = calls(out)
    assert [(call[0], call[1], call[2]) for call in got] == [(parent, "failed", "1")]
    assert got[0][3].startswith(f"run {parent} failed: 1 failed, 3 passed in "), got[0][3]
