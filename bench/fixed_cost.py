"""envctl's fixed cost per run, phase by phase, against raw compose in the same run (medians).

A one-test suite in the compatibility image (tests/fixtures/plugins), run alternately as
`envctl test` and as raw `docker compose run --rm --no-deps test pytest` on the same project (what
a user with the environment up would type: without --no-deps compose checks the dependencies
again, which would hide envctl's own cost). The engine's own events time
the phases of each: the command's start to the container's create, create to start, start to
exit (the tests, and for envctl the runner and its gate), and exit to the command's return.
What envctl adds in each phase is where its fixed cost goes; the total is what every run pays,
whatever the size of its suite.

    .venv/bin/python -m bench.fixed_cost [--rounds 10]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import ENVCTL, bench_env, compose_down, median, plugins_project, project_name, raw_compose

PHASES = ("to create", "create to start", "start to exit", "exit to return", "total")


def _events() -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["docker", "events", "--filter", "type=container", "--format",
         "{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}}"],
        stdout=subprocess.PIPE, text=True)


def timed_run(argv: list[str], cwd: Path, env: dict[str, str], name_prefix: str) -> dict[str, float]:
    """One run's phases in seconds, from the engine's events for containers named ``name_prefix``."""
    events = _events()
    time.sleep(0.3)  # `docker events` subscribes before the run begins
    started = time.time()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=300, check=False)
    returned = time.time()
    assert proc.returncode == 0, (argv, proc.stderr[-2000:])
    time.sleep(0.3)
    events.terminate()
    out, _ = events.communicate(timeout=10)
    seen: dict[str, float] = {}
    for line in out.splitlines():
        stamp, action, name = [*line.split(" ", 2), "", ""][:3]
        if name.startswith(name_prefix) and action in ("create", "start", "die") and action not in seen:
            seen[action] = int(stamp) / 1e9
    return {"to create": seen["create"] - started, "create to start": seen["start"] - seen["create"],
            "start to exit": seen["die"] - seen["start"], "exit to return": returned - seen["die"],
            "total": returned - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    project = project_name("fixed")
    with TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        project_dir = plugins_project(Path(tmp), {"test_one.py": "def test_one():\n    assert True\n"})
        env = bench_env(project, Path(tmp) / "runs") | {"ENVCTL_MEMORY": "4g", "ENVCTL_CPUS": "2"}
        pytest_args = ["-q", "-p", "no:randomly"]
        raw = ["run", "--rm", "--no-deps", "test", "pytest", *pytest_args]
        results: dict[str, list[dict[str, float]]] = {"envctl": [], "raw": []}
        try:
            subprocess.run([*ENVCTL, "test", "--", "-q", "--co"], cwd=project_dir, env=env,
                           capture_output=True, timeout=900, check=True)  # the image, built once
            for _ in range(args.rounds):
                results["envctl"].append(timed_run([*ENVCTL, "test", "--", *pytest_args], project_dir,
                                                   env, f"{project}-test-run-"))
                compose = raw_compose(project, Path(tmp) / "runs")
                results["raw"].append(timed_run([*compose, *raw], project_dir, env, f"{project}-test-run-"))
        finally:
            compose_down(project)
    print(f"medians of {args.rounds} one-test runs (seconds):")
    print(f"  {'phase':<16} {'envctl':>7} {'raw':>7} {'envctl adds':>12}")
    for phase in PHASES:
        mine = median([r[phase] for r in results["envctl"]])
        theirs = median([r[phase] for r in results["raw"]])
        print(f"  {phase:<16} {mine:7.3f} {theirs:7.3f} {mine - theirs:+12.3f}")
    total = median([r["total"] for r in results["envctl"]]) / median([r["total"] for r in results["raw"]])
    print(f"envctl's fixed cost: {total:.2f}x raw compose on a one-test run")


if __name__ == "__main__":
    main()
