"""What a warm environment costs `envctl test`: the time to the test container's creation on an
environment that is up and ready, against the same run with the environment's check skipped
(`--no-up`), alternately, medians (issue #25, target 3: at most +30 ms, readiness included).

The project is the compatibility one (tests/fixtures/plugins) with two services the tests depend
on, both healthy: one with a health check (`service_healthy`), one without (`service_started`),
and a `wait` probe-free readiness. The engine's events time the creation, as bench/fixed_cost.py
does; the whole command's time is printed beside it.

    .venv/bin/python -m bench.warm_env [--rounds 10]
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import ENVCTL, bench_env, compose_down, median, plugins_project, project_name
from bench.fixed_cost import timed_run

SERVICES = """
  db:
    image: python:3.11-slim
    command: ["python", "-c", "import time; time.sleep(100000)"]
    init: true
    healthcheck: {test: ["CMD", "true"], interval: 1s}
  cache:
    image: python:3.11-slim
    command: ["python", "-c", "import time; time.sleep(100000)"]
    init: true
"""
DEPENDS = """    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_started}
"""


def warm_project(tmp: Path) -> Path:
    """The compatibility project with the tests depending on two running services."""
    project_dir = plugins_project(tmp, {"test_one.py": "def test_one():\n    assert True\n"})
    compose = project_dir / "compose.yaml"
    text = compose.read_text()
    head, _, tail = text.partition("services:\n")
    test_block, _, rest = tail.partition("\n\n")
    compose.write_text(f"{head}services:{SERVICES}{test_block}\n{DEPENDS}\n{rest}")
    return project_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    project = project_name("warm")
    pytest_args = ["-q", "-p", "no:randomly"]
    results: dict[str, list[dict[str, float]]] = {"checked": [], "skipped": []}
    with TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        project_dir = warm_project(Path(tmp))
        env = bench_env(project, Path(tmp) / "runs")
        try:
            subprocess.run([*ENVCTL, "up"], cwd=project_dir, env=env, capture_output=True, timeout=900,
                           check=True)
            subprocess.run([*ENVCTL, "test", "--", "-q", "--co"], cwd=project_dir, env=env,
                           capture_output=True, timeout=900, check=True)  # the image, built once
            prefix = f"{project}-test-run-"
            for _ in range(args.rounds):
                results["checked"].append(timed_run([*ENVCTL, "test", "--", *pytest_args], project_dir,
                                                    env, prefix))
                results["skipped"].append(timed_run([*ENVCTL, "test", "--no-up", "--", *pytest_args],
                                                    project_dir, env, prefix))
        finally:
            compose_down(project)
    print(f"medians of {args.rounds} one-test runs on a ready environment (seconds):")
    print(f"  {'phase':<16} {'checked':>8} {'--no-up':>8} {'the check adds':>15}")
    for phase in ("to create", "total"):
        mine = median([r[phase] for r in results["checked"]])
        theirs = median([r[phase] for r in results["skipped"]])
        print(f"  {phase:<16} {mine:8.3f} {theirs:8.3f} {(mine - theirs) * 1000:+13.0f} ms")


if __name__ == "__main__":
    main()
