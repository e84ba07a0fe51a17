"""--shards 4 against --shards 1 on tests that each wait on I/O, and the imbalance of a
duration-balanced split: slowest shard / mean (target <= 1.1). By default 200 tests x 0.1 s (20 s:
below the engine's own floor for 3.2x); `--tests 1200` is the 2-minute suite (target >= 3.4x, and
within 0.5 s of raw compose with a project per shard).

The raw tool, measured in the same run: the same split by hand with `docker compose run --rm`,
one project per shard and `compose down` after, as envctl's shards do; and plain `docker run
--rm` of the same image (no project, no network of its own): the engine's floor here.

    .venv/bin/python -m bench.shards [--rounds 3] [--tests 1200 --no-docker]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import ENVCTL, ROOT, bench_env, median, project_name

FIXTURE = ROOT / "bench" / "fixtures" / "shards"
TESTS = [200]  # the suite's size; main() sets it from --tests


def run(env: dict[str, str], shards: int) -> float:
    started = time.perf_counter()
    proc = subprocess.run([*ENVCTL, "test", "--shards", str(shards), "--", "-q"], cwd=FIXTURE, env=env,
                          capture_output=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return time.perf_counter() - started


COMPOSE_FILE = FIXTURE / "compose.yaml"
IMAGE = "envctltest-pytest:1"


def node_ids(shard: int, shards: int) -> list[str]:
    return [f"test_io.py::test_waits_on_io[{i}]" for i in range(shard, TESTS[0], shards)]


def use_suite(tests: int, tmp: Path) -> None:
    """A copy of the fixture whose suite has ``tests`` tests of 0.1 s each."""
    global FIXTURE, COMPOSE_FILE  # the module's functions read them
    fixture = tmp / "shards"
    shutil.copytree(ROOT / "bench" / "fixtures" / "shards", fixture)
    text = (fixture / "suite" / "test_io.py").read_text().replace("range(200)", f"range({tests})")
    (fixture / "suite" / "test_io.py").write_text(text)
    compose = (fixture / "compose.yaml").read_text().replace("../../../tests/fixtures/runs",
                                                             str(ROOT / "tests" / "fixtures" / "runs"))
    (fixture / "compose.yaml").write_text(compose)
    FIXTURE, COMPOSE_FILE, TESTS[0] = fixture, fixture / "compose.yaml", tests


def raw_compose(shards: int) -> float:
    """Each shard's tests in its own project with `compose run --rm`, then `compose down`."""
    projects = [f"envctlbench-raw-{uuid.uuid4().hex[:6]}" for _ in range(shards)]
    started = time.perf_counter()
    procs = [subprocess.Popen(["docker", "compose", "-p", project, "-f", str(COMPOSE_FILE), "run", "--rm",
                               "--no-TTY", "test", "pytest", "-q", "-p", "no:cacheprovider",
                               *node_ids(k, shards)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for k, project in enumerate(projects)]
    assert all(proc.wait(timeout=900) == 0 for proc in procs)
    downs = [subprocess.Popen(["docker", "compose", "-p", project, "-f", str(COMPOSE_FILE), "down"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for project in projects]
    assert all(proc.wait(timeout=120) == 0 for proc in downs)
    return time.perf_counter() - started


def raw_docker(shards: int) -> float:
    """Each shard's tests in a plain `docker run --rm` of the same image, on the default network."""
    started = time.perf_counter()
    procs = [subprocess.Popen(["docker", "run", "--rm", "-v", f"{FIXTURE / 'suite'}:/suite", "-w", "/suite",
                               IMAGE, "pytest", "-q", "-p", "no:cacheprovider", *node_ids(k, shards)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for k in range(shards)]
    assert all(proc.wait(timeout=900) == 0 for proc in procs)
    return time.perf_counter() - started


def imbalance(log_dir: Path) -> float:
    """Slowest shard's test time over the mean, for the newest --shards run."""
    parents = sorted((p for p in log_dir.iterdir() if (p / "run.json").exists()), key=lambda p: p.name)
    parent = next(p for p in reversed(parents) if json.loads((p / "run.json").read_text())["children"])
    children = json.loads((parent / "run.json").read_text())["children"]
    loads: list[float] = []
    for child in children:
        events = (log_dir / child / "events.jsonl").read_text().splitlines()
        loads.append(sum(float(json.loads(e).get("duration", 0)) for e in events if '"result"' in e))
    return max(loads) / (sum(loads) / len(loads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tests", type=int, default=200, help="tests of 0.1 s each (1200: 2 minutes)")
    parser.add_argument("--no-docker", action="store_true", help="skip the plain `docker run` floor")
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        log_dir = Path(tmp) / "runs"
        log_dir.mkdir()
        if args.tests != 200:
            use_suite(args.tests, Path(tmp))
        env = bench_env(project_name("shards"), log_dir) | {"ENVCTL_DURATIONS_FILE": str(log_dir / "d.json")}
        run(env, 1)  # warm-up; also records the durations the next splits balance on
        timings: dict[str, dict[int, list[float]]] = {
            name: {1: [], 4: []} for name in ("envctl", "compose", "docker")}
        for _ in range(args.rounds):
            for shards in (1, 4):  # interleaved, so a slow moment of the machine hits all alike
                timings["envctl"][shards].append(run(env, shards))
                timings["compose"][shards].append(raw_compose(shards))
                if not args.no_docker:
                    timings["docker"][shards].append(raw_docker(shards))
        print(f"medians of {args.rounds} rounds, {args.tests} tests x 0.1 s:")
        for name, label in (("envctl", "envctl test --shards N"),
                            ("compose", "compose run --rm, a project per shard"),
                            ("docker", "docker run --rm (engine floor)")):
            if not timings[name][1]:
                continue
            one, four = median(timings[name][1]), median(timings[name][4])
            print(f"  {label:40s} 1: {one:5.1f} s  4: {four:5.1f} s  speed-up {one / four:.2f}x")
        ratio = median(timings["envctl"][1]) / median(timings["envctl"][4])
        raw = median(timings["compose"][4])
        target = "3.4x" if args.tests >= 1200 else "3.2x"
        print(f"envctl --shards 4 vs --shards 1: {ratio:.2f}x (target >= {target}); "
              f"4 shards take {median(timings['envctl'][4]) / raw:.2f}x the raw compose time "
              f"({median(timings['envctl'][4]) - raw:+.2f} s; target within 0.5 s)")
        print(f"duration-balanced split, 4 shards: slowest / mean = {imbalance(log_dir):.3f} (target <= 1.1)")


if __name__ == "__main__":
    main()
