"""How envctl's costs grow, each against a raw reading of the same files in the same run
(medians of fresh processes, as a user or an agent calls them):

1. `status` and `report --format json` on runs of 100 / 10,000 / 100,000 tests (targets at
   100k: status <= 250 ms, report <= 2 s), against `python3 -c` loading progress.json / parsing
   the JUnit with ElementTree;
2. `report merge` of 4 shards of 25,000 tests (target <= 5 s), against parsing the 4 files;
3. `runs` with 10 / 100 / 1,000 runs kept (target at 1,000: <= 300 ms), against loading every
   run.json.

With ``--png PATH`` (needs matplotlib) the curves are drawn there.

    .venv/bin/python -m bench.scale [--rounds 3] [--png docs/scaling.png]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import ENVCTL, ROOT, median

RAW = [sys.executable, "-c"]


def fake_run(log_dir: Path, run_id: str, tests: int, *, offset: int = 0) -> Path:
    """A finished run of ``tests`` tests (1% failing), with the files a real one has."""
    run_dir = log_dir / run_id
    run_dir.mkdir(parents=True, mode=0o700)
    now = time.time()
    failed = tests // 100
    record = {"id": run_id, "project": "p", "service": "test", "command": ["pytest"],
              "limits": {"memory": 1 << 30, "cpus": 1.0, "pids": 100},
              "state": "failed" if failed else "passed", "created_at": now - 60, "started_at": now - 60,
              "finished_at": now, "pytest_exit": 1 if failed else 0,
              "cleaned": True, "counts": {"total": tests, "done": tests, "passed": tests - failed,
                                          "failed": failed}}
    (run_dir / "run.json").write_text(json.dumps(record))
    (run_dir / "progress.json").write_text(json.dumps(
        {"total": tests, "done": tests, "passed": tests - failed, "failed": failed, "skipped": 0, "errors": 0,
         "xfailed": 0, "xpassed": 0, "current": None, "started": now - 60, "updated": now, "exitstatus": 1}))
    with (run_dir / "events.jsonl").open("w") as events, (run_dir / "junit.xml").open("w") as junit:
        junit.write(f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" '
                    f'tests="{tests}">\n')
        for i in range(offset, offset + tests):
            module = f"tests/pkg{i % 50}/test_mod{i % 400}.py"
            nodeid = f"{module}::TestClass::test_case[{i}]"
            bad = i % 100 == 0
            events.write(json.dumps({"t": now, "kind": "start", "nodeid": nodeid}) + "\n")
            events.write(json.dumps({"t": now, "kind": "result", "nodeid": nodeid,
                                     "outcome": "failed" if bad else "passed", "when": "call",
                                     "duration": 0.01, "message": "assert 1 == 2" if bad else None,
                                     "path": f"/suite/{module}" if bad else None, "line": 7 if bad else None})
                         + "\n")
            classname = module.removesuffix(".py").replace("/", ".") + ".TestClass"
            inner = '<failure message="assert 1 == 2">E   assert 1 == 2</failure>' if bad else ""
            junit.write(f'<testcase classname="{classname}" name="test_case[{i}]" file="{module}" '
                        f'line="6" time="0.010">{inner}</testcase>\n')
        junit.write("</testsuite></testsuites>\n")
    return run_dir


def timed(argv: list[str], env: dict[str, str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True, timeout=600, check=False)
        times.append(time.perf_counter() - started)
        assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return median(times)


def env_for(log_dir: Path) -> dict[str, str]:
    import os  # noqa: PLC0415

    return {**{k: v for k, v in os.environ.items() if not k.startswith("ENVCTL_")},
            "ENVCTL_LOG_DIR": str(log_dir), "ENVCTL_KEEP_RUNS": "100000",
            "PYTHONPATH": str(ROOT)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--png", type=Path)
    args = parser.parse_args()
    curves: dict[str, list[tuple[int, float, float]]] = {"status": [], "report": [], "runs": []}
    with TemporaryDirectory() as tmp:
        root = Path(tmp)
        for tests in (100, 10_000, 100_000):
            log_dir = root / f"tests{tests}"
            run_dir = fake_run(log_dir, "20260101-000000-0001", tests)
            env = env_for(log_dir)
            status = timed([*ENVCTL, "status", "--json"], env, args.rounds)
            raw_status = timed([*RAW, f"import json; json.load(open({str(run_dir / 'progress.json')!r}))"],
                               env, args.rounds)
            report = timed([*ENVCTL, "report", "--format", "json"], env, args.rounds)
            raw_report = timed([*RAW, "import xml.etree.ElementTree as ET; "
                                      f"ET.parse({str(run_dir / 'junit.xml')!r})"], env, args.rounds)
            curves["status"].append((tests, status, raw_status))
            curves["report"].append((tests, report, raw_report))
            print(f"1. {tests:>7} tests: status {status * 1000:.0f} ms (raw {raw_status * 1000:.0f} ms, "
                  f"{status / raw_status:.2f}x), report {report * 1000:.0f} ms (raw ET.parse "
                  f"{raw_report * 1000:.0f} ms, {report / raw_report:.2f}x)")
        shards_dir = root / "shards"
        shard_dirs = [fake_run(shards_dir, f"20260101-000000-000{k}", 25_000, offset=k * 25_000)
                      for k in range(1, 5)]
        env = env_for(root / "merge-logs")
        merge = timed([*ENVCTL, "report", "merge", *map(str, shard_dirs), "--format", "json",
                       "--durations-out", str(root / "durations.json")], env, args.rounds)
        files = ", ".join(repr(str(d / "junit.xml")) for d in shard_dirs)
        raw_merge = timed([*RAW, f"import xml.etree.ElementTree as ET; [ET.parse(f) for f in ({files})]"],
                          env, args.rounds)
        print(f"2. report merge of 4 x 25,000 tests: {merge:.2f} s (raw ET.parse of the 4 files "
              f"{raw_merge:.2f} s, {merge / raw_merge:.2f}x; target <= 5 s)")
        for count in (10, 100, 1000):
            log_dir = root / f"runs{count}"
            for i in range(count):
                fake_run(log_dir, f"20260102-{i // 10000:06d}-{i % 10000:04x}", 10)
            env = env_for(log_dir)
            runs = timed([*ENVCTL, "runs"], env, args.rounds)
            load_all = f"[json.load(p.open()) for p in pathlib.Path({str(log_dir)!r}).glob('*/run.json')]"
            raw_runs = timed([*RAW, f"import json, pathlib; {load_all}"], env, args.rounds)
            curves["runs"].append((count, runs, raw_runs))
            print(f"3. runs with {count:>4} runs kept: {runs * 1000:.0f} ms (raw load of every run.json "
                  f"{raw_runs * 1000:.0f} ms, {runs / raw_runs:.2f}x)")
    if args.png:
        draw(curves, args.png)


def draw(curves: dict[str, list[tuple[int, float, float]]], path: Path) -> None:
    import matplotlib  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415  # only to draw: `pip install matplotlib`

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

    figure, axes = plt.subplots(1, 3, figsize=(13, 4))
    titles = {"status": "status (tests in the run)", "report": "report --format json (tests)",
              "runs": "runs (runs kept)"}
    for axis, (name, points) in zip(axes, curves.items(), strict=True):
        sizes = [p[0] for p in points]
        axis.plot(sizes, [p[1] * 1000 for p in points], marker="o", label="envctl")
        axis.plot(sizes, [p[2] * 1000 for p in points], marker="s", linestyle="--", label="raw read")
        axis.set_xscale("log")
        axis.set_title(titles[name])
        axis.set_ylabel("ms (median, fresh process)")
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    print(f"curves: {path}")


if __name__ == "__main__":
    main()
