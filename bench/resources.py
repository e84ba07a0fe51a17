"""What sampling a run's resources costs: the bundled stack (compose/compose.yaml) and its example
suite, run with `envctl test` with the sampler on and off (ENVCTL_BENCH_RESOURCES=off),
alternately, the order swapped each round; medians of

- the command's wall time and the test container's run time (started to finished, run.json);
- the engine's CPU time during the run (dockerd's utime + stime from /proc, a local engine only),
  where the stats streams' cost lands;

and the ratio on/off of each (of the medians, and the median of each round's ratio, which a
machine whose load drifts during the bench moves less). Target: the run time within 1.01x.

    .venv/bin/python -m bench.resources [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import ENVCTL, ROOT, bench_env, compose_down, median

STACK = ROOT / "compose"
TICKS = os.sysconf("SC_CLK_TCK")


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
    measured = {"wall": wall, "run": record["finished_at"] - record["started_at"]}
    if cpu_before is not None and cpu_after is not None:
        measured["engine cpu"] = cpu_after - cpu_before
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
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
            for round_ in range(args.rounds):
                order = ("on", "off") if round_ % 2 == 0 else ("off", "on")
                for name in order:
                    results[name].append(one_run(on if name == "on" else off, log_dir))
        finally:
            compose_down(project)
        for key in ("wall", "run", "engine cpu"):
            values = {name: [r[key] for r in runs if key in r] for name, runs in results.items()}
            if not values["on"] or not values["off"]:
                continue
            with_sampling, without = median(values["on"]), median(values["off"])
            pairs = zip(values["on"], values["off"], strict=False)
            paired = median([on_ / off_ for on_, off_ in pairs if off_])
            print(f"{key:<11} on {with_sampling:7.3f} s  off {without:7.3f} s  "
                  f"({with_sampling / without:.3f}x; each round's ratio, median {paired:.3f}x; "
                  f"{len(values['on'])} rounds)")


if __name__ == "__main__":
    main()
