"""What sampling a run's resources costs, three ways (medians; on and off alternate):

1. suite: the bundled stack (compose/compose.yaml) and its example suite, run with `envctl test`
   with the sampler on and off (ENVCTL_BENCH_RESOURCES=off), the order swapped each round: the
   command's wall time, the test container's run time (started to finished, run.json), pytest's
   own time (its last line's "in N s": what the tests took) and the engine's CPU time during the
   run (dockerd's utime + stime from /proc; a local engine only).
   Each ratio is given of the medians and as the median of each round's ratio (which a load
   that drifts during the bench moves less). Target: the run time within 1.01x.
2. parts: the sampler alone (runs.resource_watch, in this process) on a sleeping test container
   and three services, in windows of WINDOW seconds, sampling and idle alternately: this
   process's CPU per second (the collector's cost) and dockerd's (the engine's).
3. plugin: the plugin's per-test cost in a container (the memory watch's two hooks, its one
   cgroup reading a test), over 100,000 calls.

    .venv/bin/python -m bench.resources [--rounds 10] [--only suite|parts|plugin]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import ENVCTL, ROOT, bench_env, compose_down, median

STACK = ROOT / "compose"
TICKS = os.sysconf("SC_CLK_TCK")
WINDOW = 15.0  # seconds of one sampling or idle window of the parts measure
PARTS = "envctlbench-resources-parts"  # the labelled project of the parts measure's containers
PLUGIN_LOOP = """
import sys, time
sys.path.insert(0, "/p")
from envctl_memory import MemoryWatch
watch = MemoryWatch(lambda kind, **data: None)
n = 100_000
started = time.perf_counter()
for _ in range(n):
    watch.pytest_runtest_logstart("t.py::x", None)
    watch.pytest_runtest_logfinish("t.py::x", None)
print((time.perf_counter() - started) / n * 1e6)
"""


def dockerd_cpu() -> float | None:
    """Seconds of CPU the local engine has used so far; None when it is not on this machine."""
    found = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True,
                           check=False).stdout.split()
    if len(found) != 1:
        return None
    try:
        fields = Path(f"/proc/{found[0]}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat)


def one_run(env: dict[str, str], log_dir: Path) -> dict[str, float]:
    """One `envctl test` of the example suite: wall time, the container's run time, the engine's CPU."""
    cpu_before = dockerd_cpu()
    started = time.perf_counter()
    proc = subprocess.run([*ENVCTL, "test", "--", "-q", "-p", "no:randomly"], cwd=STACK, env=env,
                          capture_output=True, timeout=900, check=False)
    wall = time.perf_counter() - started
    cpu_after = dockerd_cpu()
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
    latest = max((p for p in log_dir.iterdir() if (p / "run.json").is_file()),
                 key=lambda p: p.stat().st_mtime)
    record = json.loads((latest / "run.json").read_text())
    said = re.search(r" in ([0-9.]+)s", (latest / "output.log").read_text().rstrip().rsplit("\n", 1)[-1])
    measured = {"wall": wall, "run": record["finished_at"] - record["started_at"],
                "pytest": float(said.group(1)) if said else 0.0}
    if cpu_before is not None and cpu_after is not None:
        measured["engine cpu"] = cpu_after - cpu_before
    return measured


def report(results: dict[str, list[dict[str, float]]], keys: tuple[str, ...], on: str, off: str,
           unit: str) -> None:
    for key in keys:
        values = {name: [r[key] for r in runs if key in r] for name, runs in results.items()}
        if not values[on] or not values[off]:
            continue
        with_sampling, without = median(values[on]), median(values[off])
        paired = median([a / b for a, b in zip(values[on], values[off], strict=False) if b])
        print(f"{key:<15} {on} {with_sampling:8.3f} {unit}  {off} {without:8.3f} {unit}  "
              f"({with_sampling / without:.3f}x; each round's ratio, median {paired:.3f}x; "
              f"{len(values[on])} rounds)")


def suite(rounds: int) -> None:
    project = "envctlbench-resources"  # a fixed name: its images, built once, serve every later bench
    with TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        log_dir = Path(tmp) / "runs"
        on = bench_env(project, log_dir)
        off = on | {"ENVCTL_BENCH_RESOURCES": "off"}
        results: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
        try:
            up = subprocess.run([*ENVCTL, "up"], cwd=STACK, env=on, capture_output=True, timeout=900,
                                check=False)
            assert up.returncode == 0, up.stderr[-2000:]
            one_run(on, log_dir)  # a first run warms the image's files and the engine
            for round_ in range(rounds):
                for name in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
                    results[name].append(one_run(on if name == "on" else off, log_dir))
        finally:
            compose_down(project)
    report(results, ("wall", "run", "pytest", "engine cpu"), "on", "off", "s")


def parts(rounds: int) -> None:
    from envctl.runs.resource_watch import ResourceWatch  # noqa: PLC0415

    names = [f"{PARTS}-{i}" for i in range(4)]
    for i, name in enumerate(names):  # the first is the "test container", the others services
        subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "--label",
                        f"com.docker.compose.project={PARTS}", "--label", f"com.docker.compose.service=s{i}",
                        "debian:bookworm-slim", "sleep", str(int(rounds * 2 * WINDOW + 60))],
                       capture_output=True, timeout=60, check=True)
    results: dict[str, list[dict[str, float]]] = {"sampling": [], "idle": []}
    try:
        with TemporaryDirectory() as tmp:
            run_dir = Path(tmp) / "20260101-000000-abcd"
            run_dir.mkdir()
            for round_ in range(rounds):
                for name in ("sampling", "idle") if round_ % 2 == 0 else ("idle", "sampling"):
                    watch = ResourceWatch(run_dir, PARTS, names[0])
                    cpu, engine, started = time.process_time(), dockerd_cpu(), time.monotonic()
                    if name == "sampling":
                        watch.start()
                    time.sleep(WINDOW)
                    watch.stop()
                    seconds = time.monotonic() - started
                    window = {"collector cpu": (time.process_time() - cpu) / seconds * 1000}
                    engine_after = dockerd_cpu()
                    if engine is not None and engine_after is not None:
                        window["engine cpu"] = (engine_after - engine) / seconds * 1000
                    results[name].append(window)
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True, timeout=60, check=False)
    report(results, ("collector cpu", "engine cpu"), "sampling", "idle", "ms/s")


def plugin() -> None:
    plugin_dir = ROOT / "envctl" / "pytest_plugin"
    out = subprocess.run(["docker", "run", "--rm", "-v", f"{plugin_dir}:/p:ro", "python:3.11-slim", "python",
                          "-c", PLUGIN_LOOP], capture_output=True, text=True, timeout=300, check=True).stdout
    print(f"plugin          {float(out):.2f} us a test (the memory watch's hooks, in a container)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--only", choices=("suite", "parts", "plugin"))
    args = parser.parse_args()
    if args.only in (None, "plugin"):
        plugin()
    if args.only in (None, "parts"):
        parts(max(2, args.rounds // 2))
    if args.only in (None, "suite"):
        suite(args.rounds)


if __name__ == "__main__":
    main()
