"""The soak behind scripts/soak: many detached runs, envctl killed with -9 at random moments, and
every result checked once the killing stops. Prints one line per wrong result, then the count."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "runs"
SUITE = """import time

def test_passes():
    time.sleep(0.2)

def test_fails():
    time.sleep(0.2)
    assert 1 == 2, "known failure"

def test_slow():
    time.sleep(1.5)
"""
# Each run picks one; the answer is (exit code, state, passed, failed).
CHOICES = {
    "all": ((), (1, "failed", 2, 1)),
    "passing": (("-k", "not fails"), (0, "passed", 2, 0)),
    "none": (("-k", "no_such_test"), (5, "no-tests", 0, 0)),
}


def envctl(env: dict[str, str], cwd: Path, *args: str,
           timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envctl", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def envctl_pids(log_dir: str) -> list[int]:
    """This soak's envctl processes (the CLI and collectors), by the log dir in their environment."""
    marker = f"ENVCTL_LOG_DIR={log_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            ours = marker in (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if ours and any(a in (b"envctl", b"envctl.runs.collector") for a in argv):
            found.append(int(entry.name))
    return found


def killer(log_dir: str, stop: threading.Event, rng: random.Random, kills: list[int]) -> None:
    """kill -9 every envctl process of the soak, at random moments (0.1-1.5 s apart)."""
    while not stop.wait(rng.uniform(0.1, 1.5)):
        for pid in envctl_pids(log_dir):
            try:
                os.kill(pid, signal.SIGKILL)
                kills[0] += 1
            except ProcessLookupError:
                pass


# With --host the tests run on this machine (`test --host`), from the project folder: the suite's
# folder is named first. The killer leaves the runners alone: a runner killed is a run `lost`,
# not its known answer (the fault suite kills one on purpose).
HOST_ARGS: list[str] = []


def start(env: dict[str, str], cwd: Path, choice: str) -> None:
    """`test --detach` with the choice's arguments. It may be killed at any moment: whether a
    run was made is read from the run directory afterwards, not from what this printed."""
    args, _answer = CHOICES[choice]
    flags, suite = (["--host"], ["suite"]) if HOST_ARGS else ([], [])
    envctl(env, cwd, "test", "--detach", "--json", *flags, "--", *suite, *args, timeout=300)


def runs_made(log_dir: Path) -> dict[str, str]:
    """{run id: its choice} for every run made so far (a record exists), the choice read back
    from the arguments its starter recorded."""
    by_args = {tuple(args): choice for choice, (args, _answer) in CHOICES.items()}
    made = {}
    for run_dir in sorted(log_dir.glob("2*")):
        try:
            if not (run_dir / "run.json").exists():
                continue  # its starter was killed while making it: no run
            request = json.loads((run_dir / "start.json").read_text())["request"]
            args = request["pytest_args"][1:] if request.get("host") else request["pytest_args"]
            made[run_dir.name] = by_args[tuple(args)]
        except (OSError, ValueError, KeyError):
            made[run_dir.name] = "unknown"
    return made


def check(env: dict[str, str], cwd: Path, run_id: str, choice: str) -> str | None:
    """What is wrong with the run's result, or None when it is the known answer."""
    if choice not in CHOICES:
        return f"{run_id}: its start record cannot be read"
    result = envctl(env, cwd, "wait", run_id, "--json", timeout=600)
    try:
        view = json.loads(result.stdout)
    except ValueError:
        return f"{run_id}: no answer (exit {result.returncode}): {result.stderr.strip()[:200]}"
    got = (result.returncode, view["state"], view["progress"]["passed"], view["progress"]["failed"])
    want = CHOICES[choice][1]
    return None if got == want else f"{run_id} ({choice}): got {got}, want {want}: {view['message']}"


# Fresh projects made in one round before the killing stops, their runs are checked and they
# are torn down: each holds a network, and the engine's default address pools hold about 30.
ROUND_PROJECTS = 12


def start_all(options: argparse.Namespace, rng: random.Random, env: dict[str, str], cwd: Path,
              projects: list[str]) -> int:
    """Start runs until ``options.runs`` were made (with ``--fresh-project``: or until this
    round made ROUND_PROJECTS projects); how many starts that took. With ``--fresh-project``
    each batch goes to a new project (appended to ``projects``)."""
    log_dir = Path(env["ENVCTL_LOG_DIR"])
    attempts = 0
    round_began = len(projects)
    with ThreadPoolExecutor(options.parallel) as pool:
        while (missing := options.runs - len(runs_made(log_dir))) > 0:
            if options.fresh_project and len(projects) - round_began >= ROUND_PROJECTS:
                break
            batch = [rng.choice(sorted(CHOICES)) for _ in range(min(missing, options.parallel))]
            attempts += len(batch)
            if options.fresh_project:
                projects.append(f"{projects[0]}-{len(projects)}")
            batch_env = {**env, "ENVCTL_PROJECT_NAME": projects[-1]}
            list(pool.map(lambda c, e=batch_env: start(e, cwd, c), batch))
    return attempts


def tear_down(env: dict[str, str], cwd: Path, projects: list[str]) -> list[str]:
    """`envctl down` each project; the containers any of them left behind."""
    left = []
    for each in projects:
        envctl({**env, "ENVCTL_PROJECT_NAME": each}, cwd, "down", "--volumes", timeout=120)
        argv = ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={each}"]
        left += subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False).stdout.split()
    return left


def check_round(options: argparse.Namespace, env: dict[str, str], cwd: Path, checked: set[str]) -> list[str]:
    """Check the runs made since the last round (added to ``checked``); what was wrong."""
    fresh_runs = {k: v for k, v in runs_made(Path(env["ENVCTL_LOG_DIR"])).items() if k not in checked}
    with ThreadPoolExecutor(options.parallel) as pool:
        checks = list(pool.map(lambda item: check(env, cwd, *item), sorted(fresh_runs.items())))
    checked.update(fresh_runs)
    wrong = [problem for problem in checks if problem is not None]
    for problem in wrong:
        print(f"soak: wrong: {problem}", flush=True)
    return wrong


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__)
    parser.add_argument("--runs", type=int, default=50, help="how many runs (default 50)")
    parser.add_argument("--parallel", type=int, default=4, help="runs started at once (default 4)")
    parser.add_argument("--seed", type=int, default=None, help="the random seed (printed)")
    parser.add_argument("--fresh-project", action="store_true",
                        help="each batch of starts on a project of its own that is not up yet, so "
                             "starts killed during `compose up` race the next ones")
    parser.add_argument("--host", action="store_true",
                        help="`test --host` runs: pytest on this machine against the environment")
    return parser.parse_args()


def main() -> int:
    options = arguments()
    if options.host:
        HOST_ARGS.append("--host")
    seed = options.seed if options.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="envctl-soak-"))
    project = work / "project"
    shutil.copytree(FIXTURE, project)
    for old in (project / "suite").glob("test_*.py"):
        old.unlink()
    (project / "suite" / "test_soak.py").write_text(SUITE)
    name = f"envctlsoak-{uuid.uuid4().hex[:8]}"
    log_dir = str(work / "runs")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ENVCTL_", "GITHUB_")) and k != "CI"},
           "ENVCTL_LOG_DIR": log_dir, "ENVCTL_PROJECT_NAME": name, "ENVCTL_KEEP_RUNS": str(options.runs + 10),
           "PYTHONPATH": str(ROOT)}
    fresh = " (a fresh project per batch)" if options.fresh_project else ""
    fresh += " (on this machine: --host)" if options.host else ""
    print(f"soak: {options.runs} runs, {options.parallel} at a time, seed {seed}, project {name}{fresh}",
          flush=True)
    began = time.monotonic()
    kills = [0]
    projects = [name]  # every compose project the soak starts runs on
    checked: set[str] = set()
    wrong: list[str] = []
    left: list[str] = []
    attempts = 0
    # In rounds: start (and kill) until N runs were made, or a round's projects are made; stop
    # the killing; check the round's runs; with --fresh-project, tear its projects down.
    while len(runs_made(Path(log_dir))) < options.runs:
        stop = threading.Event()
        thread = threading.Thread(target=killer, args=(log_dir, stop, rng, kills), daemon=True)
        thread.start()
        round_projects = len(projects)
        try:
            # A starter killed before it made its run made nothing (its shell saw no run id
            # either): start again. A run made is a run that must end with its answer.
            attempts += start_all(options, rng, env, project, projects)
            time.sleep(rng.uniform(0, 3))  # and some more killing while the last ones run
        finally:
            stop.set()
            thread.join()
        wrong += check_round(options, env, project, checked)
        if options.fresh_project:
            left += tear_down(env, project, projects[max(1, round_projects):])
        print(f"soak: {len(checked)} runs checked, {len(wrong)} wrong, {time.monotonic() - began:.0f} s",
              flush=True)
    made = runs_made(Path(log_dir))
    results = len(made) - len(wrong)
    left += tear_down(env, project, projects if not options.fresh_project else projects[:1])
    if left:
        print(f"soak: {len(left)} container(s) of {name}* left behind", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    print(f"soak: {kills[0]} envctl processes killed with -9; {attempts} starts for {len(made)} runs; "
          f"{time.monotonic() - began:.0f} s", flush=True)
    print(f"{len(made)} runs, {results} results, {len(made) - results} lost")
    return 0 if not wrong and not left else 1


if __name__ == "__main__":
    sys.exit(main())
