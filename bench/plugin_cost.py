"""What envctl costs a big suite, against raw compose in the same run (medians):

10,000 trivial tests (and the same with `-n 2`, pytest-xdist), in the compatibility image
(tests/fixtures/plugins), run as
- `envctl test` (the progress plugin, envctl's JUnit, limits, the log captured);
- `envctl test` with `inject_plugin = off` (no plugin: pytest's own --junitxml);
- raw `docker compose run --rm --no-deps test pytest` on the same project, and the same with
  `--junitxml` (what envctl's JUnit costs pytest itself).
Target (issue #25): envctl <= 1.00x raw `--junitxml`.

    .venv/bin/python -m bench.plugin_cost [--rounds 3] [--tests 10000]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import ENVCTL, bench_env, compose_down, median, plugins_project, project_name, raw_compose


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=1200, check=False)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, (argv, proc.stdout[-1000:], proc.stderr[-2000:])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tests", type=int, default=10_000)
    args = parser.parse_args()
    project = project_name("cost")
    with TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        per_file = 100
        project_dir = plugins_project(Path(tmp), {
            f"test_m{k}.py": f"import pytest\n\n\n@pytest.mark.parametrize('n', range({per_file}))\n"
                             "def test_t(n):\n    assert n >= 0\n"
            for k in range(args.tests // per_file)})
        env = bench_env(project, Path(tmp) / "runs") | {"ENVCTL_MEMORY": "4g", "ENVCTL_CPUS": "2"}
        off = env | {"ENVCTL_INJECT_PLUGIN": "off"}
        # What a user with the environment up types (issue #25): the same project, --no-deps (else
        # compose checks the dependencies again, which hides envctl's own cost).
        raw = ["run", "--rm", "--no-deps", "test", "pytest", "-q", "-p", "no:randomly"]
        try:
            timed([*ENVCTL, "test", "--", "-q", "--co"], project_dir, env)  # the image, built once
            for workers in ([], ["-n", "2"]):
                pytest_args = ["-q", "-p", "no:randomly", *workers]
                results: dict[str, list[float]] = {"envctl": [], "envctl, no plugin": [], "raw": [],
                                                   "raw --junitxml": []}
                for _ in range(args.rounds):
                    results["envctl"].append(timed([*ENVCTL, "test", "--", *pytest_args], project_dir, env))
                    results["envctl, no plugin"].append(
                        timed([*ENVCTL, "test", "--", *pytest_args], project_dir, off))
                    compose = raw_compose(project, Path(tmp) / "runs")
                    results["raw"].append(timed([*compose, *raw, *workers], project_dir, env))
                    results["raw --junitxml"].append(
                        timed([*compose, *raw, *workers, "--junitxml=/tmp/j.xml"], project_dir, env))
                base = median(results["raw"])
                junit = median(results["raw --junitxml"])
                label = f"{args.tests} tests" + (" with -n 2" if workers else "")
                for name, times in results.items():
                    rounds = " ".join(f"{t:.2f}" for t in times)
                    print(f"{label}: {name:<18} {median(times):6.2f} s  ({median(times) / base:.3f}x raw, "
                          f"{median(times) / junit:.3f}x --junitxml)  rounds: {rounds}")
                # The target's figure, round by round: envctl over the raw --junitxml run beside it.
                pairs = [e / j for e, j in zip(results["envctl"], results["raw --junitxml"], strict=True)]
                print(f"{label}: envctl / raw --junitxml, median of the rounds' ratios: {median(pairs):.3f}x "
                      f"({' '.join(f'{r:.3f}' for r in pairs)})")
        finally:
            compose_down(project)


if __name__ == "__main__":
    main()
