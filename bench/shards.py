"""--shards 4 against --shards 1 on 200 tests that each wait 0.1 s on I/O (target >= 3.2x), and
the imbalance of a duration-balanced split: slowest shard / mean (target <= 1.1).

    .venv/bin/python -m bench.shards [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import ENVCTL, ROOT, bench_env, median, project_name

FIXTURE = ROOT / "bench" / "fixtures" / "shards"


def run(env: dict[str, str], shards: int) -> float:
    started = time.perf_counter()
    proc = subprocess.run([*ENVCTL, "test", "--shards", str(shards), "--", "-q"], cwd=FIXTURE, env=env,
                          capture_output=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return time.perf_counter() - started


def imbalance(log_dir: Path) -> float:
    """Slowest shard's test time over the mean, for the newest --shards run."""
    parents = sorted((p for p in log_dir.iterdir() if (p / "run.json").exists()), key=lambda p: p.name)
    parent = next(p for p in reversed(parents) if json.loads((p / "run.json").read_text())["children"])
    children = json.loads((parent / "run.json").read_text())["children"]
    loads = []
    for child in children:
        events = (log_dir / child / "events.jsonl").read_text().splitlines()
        loads.append(sum(json.loads(e).get("duration", 0) for e in events if '"result"' in e))
    return max(loads) / (sum(loads) / len(loads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        log_dir = Path(tmp)
        env = bench_env(project_name("shards"), log_dir) | {"ENVCTL_DURATIONS_FILE": str(log_dir / "d.json")}
        one, four = [], []
        run(env, 1)  # warm-up; also records the durations the next splits balance on
        for _ in range(args.rounds):
            one.append(run(env, 1))
            four.append(run(env, 4))
        ratio = median(one) / median(four)
        print(f"--shards 1: {median(one):.1f} s, --shards 4: {median(four):.1f} s "
              f"(medians of {args.rounds}): {ratio:.2f}x faster (target >= 3.2x)")
        print(f"duration-balanced split, 4 shards: slowest / mean = {imbalance(log_dir):.3f} (target <= 1.1)")


if __name__ == "__main__":
    main()
