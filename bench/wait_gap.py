"""The http wait: how long after a service first answers 200 does `envctl up` return (target
<= 50 ms)? The service has no health check; envctl waits with `[wait.web] http = "/"`. The raw
tool in the same run: `docker compose up -d --wait` with a health check every 1 s (what compose
needs to wait at all). Also `envctl up` of the bundled stack from nothing against
`docker compose up -d --wait`, each followed by `down -v`.

    .venv/bin/python -m bench.wait_gap [--rounds 5] [--stack-rounds 3]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import ENVCTL, ROOT, bench_env, compose_down, median, project_name

FIXTURE = ROOT / "bench" / "fixtures" / "wait_gap"
STACK = ROOT / "compose" / "compose.yaml"


def first_ok(project: str) -> float:
    logs = subprocess.run(["docker", "compose", "-p", project, "-f", str(FIXTURE / "compose.yaml"), "logs",
                           "--no-log-prefix", "web"], capture_output=True, text=True, timeout=60,
                          check=True).stdout
    return float(logs.split("FIRST-OK ", 1)[1].split()[0])


def gap_ms(argv: list[str], project: str, env: dict[str, str]) -> float:
    """From the service's first 200 to the command's return, in ms."""
    try:
        subprocess.run(argv, cwd=FIXTURE, env=env, capture_output=True, timeout=120, check=True)
        returned = time.time()
        return (returned - first_ok(project)) * 1000
    finally:
        compose_down(project)


def stack_seconds(argv: list[str], env: dict[str, str], project: str) -> float:
    started = time.perf_counter()
    try:
        subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=600, check=True)
        return time.perf_counter() - started
    finally:
        subprocess.run(["docker", "compose", "-p", project, "-f", str(STACK), "down", "-v", "-t", "1"],
                       capture_output=True, timeout=120, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stack-rounds", type=int, default=3)
    args = parser.parse_args()
    gaps: dict[str, list[float]] = {"envctl": [], "compose": []}
    stack: dict[str, list[float]] = {"envctl": [], "compose": []}
    with TemporaryDirectory() as tmp:
        for _ in range(args.rounds):  # interleaved, so a slow moment hits both alike
            project = project_name("gap")
            gaps["envctl"].append(gap_ms([*ENVCTL, "up"], project, bench_env(project, Path(tmp))))
            project = project_name("gap")
            gaps["compose"].append(gap_ms(
                ["docker", "compose", "-p", project, "-f", "compose.yaml", "-f", "compose.wait.yaml",
                 "up", "-d", "--wait"], project, bench_env(project, Path(tmp))))
        for _ in range(args.stack_rounds):
            project = project_name("stack")
            env = bench_env(project, Path(tmp)) | {"ENVCTL_COMPOSE_FILES": str(STACK)}
            stack["envctl"].append(stack_seconds([*ENVCTL, "up"], env, project))
            project = project_name("stack")
            stack["compose"].append(stack_seconds(
                ["docker", "compose", "-p", project, "-f", str(STACK), "up", "-d", "--wait"],
                bench_env(project, Path(tmp)), project))
    envctl_gap, compose_gap = median(gaps["envctl"]), median(gaps["compose"])
    print(f"http wait, first 200 -> return (median of {args.rounds}): envctl up {envctl_gap:.0f} ms "
          f"(target <= 50 ms); compose up --wait with a 1 s health check {compose_gap:.0f} ms "
          f"({compose_gap / max(envctl_gap, 1):.1f}x envctl's)")
    envctl_up, compose_up = median(stack["envctl"]), median(stack["compose"])
    print(f"bundled stack from nothing (median of {args.stack_rounds}): envctl up {envctl_up:.2f} s, "
          f"compose up -d --wait {compose_up:.2f} s: {envctl_up / compose_up:.2f}x")


if __name__ == "__main__":
    main()
