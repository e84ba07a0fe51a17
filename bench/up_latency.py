"""How long after the engine's `health_status: healthy` event does each tool return?

envctl up (event-driven) against `docker compose up -d --wait` (polls), in the same run, on a
service that turns healthy about 2 s after start. Prints both medians and their ratio.

    .venv/bin/python -m bench.up_latency [--rounds 7]
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import docker

from bench.common import ENVCTL, ROOT, bench_env, compose_down, median, project_name

FIXTURE = ROOT / "bench" / "fixtures" / "up_latency"


def healthy_event_ns(client: docker.DockerClient, project: str, ready: threading.Event,
                     out: list[int]) -> None:
    events = client.api.events(decode=True, filters={
        "type": ["container"], "label": [f"com.docker.compose.project={project}"]})
    ready.set()
    try:
        for event in events:
            if str(event.get("Action", "")).startswith("health_status: healthy"):
                out.append(int(event["timeNano"]))
                return
    finally:
        events.close()


def one_round(client: docker.DockerClient, argv: list[str], project: str, env: dict[str, str]) -> float:
    """Gap in ms between the healthy event and the command's return."""
    ready = threading.Event()
    seen: list[int] = []
    watcher = threading.Thread(target=healthy_event_ns, args=(client, project, ready, seen), daemon=True)
    watcher.start()
    ready.wait(10)
    try:
        subprocess.run(argv, cwd=FIXTURE, env=env, capture_output=True, timeout=120, check=True)
        returned = time.time_ns()
        watcher.join(10)
    finally:
        compose_down(project)
    if not seen:
        raise RuntimeError("no healthy event seen")
    return (returned - seen[0]) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    client = docker.from_env()
    gaps: dict[str, list[float]] = {"envctl up": [], "compose up --wait": []}
    with TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            project = project_name("up")
            env = bench_env(project, Path(tmp))
            gaps["envctl up"].append(one_round(client, [*ENVCTL, "up"], project, env))
            project = project_name("up")
            gaps["compose up --wait"].append(one_round(
                client, ["docker", "compose", "-p", project, "up", "-d", "--wait"], project, env))
    envctl_ms, compose_ms = median(gaps["envctl up"]), median(gaps["compose up --wait"])
    print(f"rounds: {args.rounds} (alternating)")
    for name, values in gaps.items():
        print(f"{name:>18}: median {median(values):7.1f} ms after the healthy event "
              f"(all: {', '.join(f'{v:.0f}' for v in values)})")
    print(f"ratio compose/envctl: {compose_ms / envctl_ms:.1f}x; envctl target <= 30 ms: "
          f"{'met' if envctl_ms <= 30 else 'NOT met'}")


if __name__ == "__main__":
    main()
