"""Reading is instant: `envctl status` of a running 100,000-test run (the installed command, as
typed; `python -m envctl status` beside it), and `envctl --help`, against the interpreter alone
and a raw reading of the same progress file, in the same run
(medians of fresh processes, alternating), and where the time goes: the interpreter's start,
the imports of the status path, and the reading itself (issue #25, targets: status <= 80 ms,
--help < 150 ms).

    .venv/bin/python -m compileall -q envctl && .venv/bin/python -m bench.reading [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import ENVCTL, median
from bench.scale import env_for, fake_run
from envctl.report.usage import Resources, Usage
from envctl.runs.exchange import EXCHANGE_ROOT
from envctl.runs.resource_files import write_resources
from envctl.runs.store import take_collector_lock

RUN_ID = "20260101-000000-b100"
TESTS = 100_000
# What a plain `status` of a running run imports (a hook's outcome, a host run's plan and the
# JSON view are read only when there is one, or asked for).
IMPORTS = ("import envctl.entry, envctl.ui.quick, envctl.ui.cli_state, envctl.settings, envctl.log, "
           "envctl.env.project, envctl.verbs.runs, envctl.ui.render, envctl.runs.resource_files, "
           "envctl.report.usage")


def running(log_dir: Path) -> Path:
    """A 100,000-test run 60% through, as its collector keeps it (progress in the exchange folder)."""
    run_dir = fake_run(log_dir, RUN_ID, TESTS)
    record = json.loads((run_dir / "run.json").read_text())
    record.update(state="running", finished_at=None, pytest_exit=None, cleaned=False,
                  counts={"total": TESTS, "done": 60_000, "passed": 59_400, "failed": 600})
    (run_dir / "run.json").write_text(json.dumps(record))
    box = log_dir / EXCHANGE_ROOT / RUN_ID
    box.mkdir(parents=True)
    progress = json.loads((run_dir / "progress.json").read_text())
    progress.update(done=60_000, passed=59_400, failed=600, updated=time.time(),
                    current="tests/pkg1/test_mod1.py::T::test_case[60001]")
    (box / "progress.json").write_text(json.dumps(progress))
    (run_dir / "progress.json").unlink()
    (run_dir / "events.jsonl").rename(box / "events.jsonl")  # the live events; no JUnit before the end
    (run_dir / "junit.xml").unlink()
    mib = 1 << 20  # the collector's last sample, as it keeps one for a running run
    write_resources(run_dir, Resources(at=time.time(), samples=30, test=Usage(
        memory=412 * mib, working_set=380 * mib, peak=455 * mib, limit=1024 * mib, cpu=97.5, pids=12),
        services=(("db", Usage(memory=88 * mib, peak=90 * mib, limit=24 << 30, cpu=3.0, pids=9)),
                  ("redis", Usage(memory=6 * mib, peak=6 * mib, limit=24 << 30, cpu=0.4, pids=5)))))
    (run_dir / "output.log").write_bytes(b"".join(b"tests/pkg/test_mod.py::test_case[%d] PASSED\n" % i
                                                  for i in range(2000)))
    return run_dir


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, timeout=120, check=False)
    took = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-2000:]
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with TemporaryDirectory(prefix="envctl-reading-") as tmp:
        log_dir = Path(tmp) / "runs"
        run_dir = running(log_dir)
        held = take_collector_lock(run_dir)  # a live collector records it, as for a real running run
        env = env_for(log_dir)
        python = [sys.executable]
        progress = str(log_dir / EXCHANGE_ROOT / RUN_ID / "progress.json")
        commands = {
            "interpreter": [*python, "-c", "pass"],
            "raw read": [*python, "-c", f"import json; json.load(open({progress!r}))"],
            "imports": [*python, "-c", IMPORTS],
            "status": [*ENVCTL, "status", RUN_ID],
            # What a user types: the installed command, without `python -m`'s runpy (~4 ms).
            "envctl status": [str(Path(sys.executable).with_name("envctl")), "status", RUN_ID],
            "status --json": [*ENVCTL, "status", RUN_ID, "--json"],
            "--help": [*ENVCTL, "--help"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, argv in commands.items():  # alternating: the machine's drift hits each alike
                times[name].append(timed(argv, env))
        figures = {name: median(found) * 1000 for name, found in times.items()}
        del held
    status, interpreter, imports = figures["envctl status"], figures["interpreter"], figures["imports"]
    print(f"{args.rounds} rounds, medians, a running {TESTS:,}-test run")
    for name, ms in figures.items():
        print(f"  {name:<14} {ms:6.1f} ms")
    print(f"`envctl status`: {status:.1f} ms (target <= 80), {status / figures['raw read']:.2f}x a raw "
          f"read of its progress file; --help: {figures['--help']:.1f} ms (target < 150)")
    print(f"where status's time goes: the interpreter {interpreter:.1f} ms, imports "
          f"{imports - interpreter:.1f} ms, reading and printing {status - imports:.1f} ms")


if __name__ == "__main__":
    main()
