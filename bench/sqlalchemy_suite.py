"""A large real suite through envctl against raw compose (issue #25, target 4): SQLAlchemy's own
tests against PostgreSQL with `--dburi`, from its source release (bench/fixtures/sqlalchemy).

Per round, alternately: raw `docker compose run --rm --no-deps test pytest ...` on the running
environment, and `envctl test -- ...`; wall times, medians, and pytest's counts and exit code
(raw: pytest's own summary line; envctl: `report --format json`). Then one detached run whose
envctl processes are all killed (-9) mid-run, waited from a fresh process: its counts and exit
code must be the raw ones too.

    .venv/bin/python -m bench.sqlalchemy_suite [--rounds 3] [-- PYTEST_ARGS]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import ENVCTL, ROOT, bench_env, compose_down, median, project_name, raw_compose

FIXTURE = ROOT / "bench" / "fixtures" / "sqlalchemy"
DBURI = "postgresql+psycopg2://scott:tiger@db:5432/test"
DEFAULT_ARGS = ["test/sql", "test/base", "-p", "no:cacheprovider", "-q", "--dburi", DBURI]
_COUNT = re.compile(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?|deselected)\b")
KEYS = ("passed", "failed", "skipped", "xfailed", "xpassed", "errors")


def pytest_counts(output: str) -> dict[str, int]:
    """pytest's counts from its last summary line (`= 3 failed, 10 passed in 4.2s =`)."""
    lines = [line for line in output.splitlines() if re.search(r" in [\d.]+s", line) and "=" in line]
    found = dict.fromkeys(KEYS, 0)
    for number, word in _COUNT.findall(lines[-1] if lines else ""):
        found["errors" if word.startswith("error") else word] = int(number)
    return found


def envctl_counts(run: str, cwd: Path, env: dict[str, str]) -> dict[str, int]:
    proc = subprocess.run([*ENVCTL, "report", run, "--format", "json"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    counts = json.loads(proc.stdout)["counts"]
    return {key: int(counts.get(key, 0)) for key in KEYS}


def last_run(log_dir: Path) -> str:
    return max((p for p in log_dir.iterdir() if (p / "run.json").exists()), key=lambda p: p.name).name


def kill_envctl() -> int:
    """SIGKILL every envctl process on this machine but this one (collectors included)."""
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg in (b"envctl", b"envctl.runs.collector") or arg.endswith(b"/envctl") for arg in argv):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
            except OSError:
                continue
    return killed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("pytest_args", nargs="*", default=DEFAULT_ARGS)
    args = parser.parse_args()
    project = project_name("sqla")
    with TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        project_dir = Path(tmp) / "project"
        shutil.copytree(FIXTURE, project_dir)
        db = Path(tmp) / "compose" / "db"
        shutil.copytree(ROOT / "compose" / "db", db)
        (project_dir / "compose.yaml").write_text((project_dir / "compose.yaml").read_text().replace(
            "../../../compose/db", str(db)))
        log_dir = Path(tmp) / "runs"
        env = bench_env(project, log_dir) | {"ENVCTL_MEMORY": "4g", "ENVCTL_CPUS": "2",
                                             "ENVCTL_RUN_TIMEOUT": "30m"}
        raw = ["run", "--rm", "--no-deps", "test", "pytest", *args.pytest_args]
        times: dict[str, list[float]] = {"raw": [], "envctl": []}
        seen: dict[str, list[tuple[int, dict[str, int]]]] = {"raw": [], "envctl": []}
        try:
            subprocess.run([*ENVCTL, "up"], cwd=project_dir, env=env, capture_output=True, timeout=1800,
                           check=True)
            subprocess.run([*ENVCTL, "test", "--", "--co", "-q", "test/base"], cwd=project_dir, env=env,
                           capture_output=True, timeout=1800, check=False)  # the test image, built
            for _ in range(args.rounds):
                compose = raw_compose(project, log_dir)
                started = time.perf_counter()
                proc = subprocess.run([*compose, *raw], cwd=project_dir, env=env, capture_output=True,
                                      text=True, timeout=3600, check=False)
                times["raw"].append(time.perf_counter() - started)
                seen["raw"].append((proc.returncode, pytest_counts(proc.stdout)))
                started = time.perf_counter()
                proc = subprocess.run([*ENVCTL, "test", "--", *args.pytest_args], cwd=project_dir,
                                      env=env, capture_output=True, text=True, timeout=3600, check=False)
                times["envctl"].append(time.perf_counter() - started)
                seen["envctl"].append((proc.returncode, envctl_counts(last_run(log_dir), project_dir, env)))
            killed = killed_mid_run(project_dir, env, args.pytest_args)
        finally:
            compose_down(project)
    for name in ("raw", "envctl"):
        print(f"{name:<7} median {median(times[name]):7.2f} s  runs {[round(t, 1) for t in times[name]]}")
        for code, counts in seen[name]:
            print(f"        exit {code}  {counts}")
    print(f"envctl / raw: {median(times['envctl']) / median(times['raw']):.3f}x")
    print(f"killed mid-run ({killed[2]} envctl processes at {killed[3]} tests done), waited from a fresh "
          f"process: exit {killed[0]}  {killed[1]}")


def killed_mid_run(cwd: Path, env: dict[str, str],
                   pytest_args: list[str]) -> tuple[int, dict[str, int], int, int]:
    """(exit code, counts, processes killed, tests done then) of a detached run whose envctl
    processes are all killed once a third of its tests are done, then waited for."""
    proc = subprocess.run([*ENVCTL, "test", "--detach", "--json", "--", *pytest_args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1800, check=True)
    run = json.loads(proc.stdout)["id"]
    done = 0
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        status = json.loads(subprocess.run([*ENVCTL, "status", run, "--json"], cwd=cwd, env=env,
                                           capture_output=True, text=True, timeout=60, check=True).stdout)
        progress = status.get("progress") or {}
        done, total = int(progress.get("done") or 0), int(progress.get("total") or 0)
        if total and done * 3 >= total:
            break
        time.sleep(1)
    killed = kill_envctl()
    waited = subprocess.run([*ENVCTL, "wait", run], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=3600, check=False)
    return waited.returncode, envctl_counts(run, cwd, env), killed, done


if __name__ == "__main__":
    main()
