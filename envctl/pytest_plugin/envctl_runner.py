"""Run the test command in the test container, under the run's timeout (stdlib only).

Usage: python3 envctl_runner.py TIMEOUT_SECONDS RUN_DIR -- COMMAND...
   or: python3 -c "<this file>" TIMEOUT_SECONDS RUN_DIR -- COMMAND...   (no mount: remote engines)

It is the container's main process: it forwards SIGINT/SIGTERM to the test command, and at the
deadline it interrupts the command (SIGINT, so pytest can write its reports), then terminates,
then kills it, writes ``timeout.json`` into the run dir and exits with TIMED_OUT_EXIT. Because
it runs inside the container, the timeout holds with no envctl process alive.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Mapping

TIMED_OUT_EXIT = 124
GRACE_INTERRUPT = 10.0
GRACE_TERMINATE = 5.0


def _wait(proc: subprocess.Popen, seconds: float) -> bool:  # type: ignore[type-arg]
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


# Seconds to wait for envctl's collector to attach before starting anyway. The host says how
# long in ENVCTL_GATE_WAIT (it weighs the same number when it decides whether to attach); this
# default holds when it does not, since this file runs where envctl is not installed.
GATE_WAIT = 30.0
CLOCK_FILE = "clock.json"  # the wall time the runner's clock started (the host reads it)


def gate_wait(environ: Mapping[str, str]) -> float:
    """The gate's wait, as the host passed it (the default when absent or not a number)."""
    try:
        seconds = float(environ.get("ENVCTL_GATE_WAIT", ""))
    except ValueError:
        return GATE_WAIT
    return seconds if 0 <= seconds < float("inf") else GATE_WAIT


def _wait_for_gate() -> None:
    """Start the tests only once envctl's collector is attached, so the log it writes is the
    byte-exact stream from the first byte (the engine's stored log re-encodes invalid UTF-8)."""
    gate = os.environ.get("ENVCTL_ATTACH_GATE", "")
    if not gate:
        return
    deadline = time.monotonic() + gate_wait(os.environ)
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.005)


def main(argv: list[str]) -> int:
    timeout = float(argv[0])
    run_dir = argv[1]
    command = argv[argv.index("--") + 1:]
    _wait_for_gate()
    # What the tests hand back must be readable by the host user whatever uid runs here; the
    # exchange folder sits inside the host user's private (0700) run directory.
    os.umask(0o022)
    with contextlib.suppress(OSError):
        os.makedirs(run_dir, exist_ok=True)  # not mounted (remote engine): a folder in the container
    # When this clock starts (after the gate, and after any entrypoint before it): the host's
    # collector, which holds the deadline too, steps in a grace after it rather than a bound
    # after the container's start (it clamps this value: it comes from the container).
    clock = os.path.join(run_dir, CLOCK_FILE)
    with contextlib.suppress(OSError), open(clock, "w", encoding="utf-8") as handle:
        json.dump({"started": time.time()}, handle)
    try:
        proc = subprocess.Popen(command)
    except OSError as exc:
        print(f"envctl: cannot start {command[0]!r}: {exc}", file=sys.stderr, flush=True)
        return 127

    interrupted = [False]

    def forward(signum: int, _frame: object) -> None:
        # One SIGINT reaches pytest: a second one (envctl stop and the collector may both ask)
        # would abort its teardown before the JUnit report is written. SIGTERM always goes on.
        if signum == signal.SIGINT:
            if interrupted[0]:
                return
            interrupted[0] = True
        with contextlib.suppress(OSError):
            proc.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    if _wait(proc, timeout if timeout > 0 else None):  # type: ignore[arg-type]
        _hand_over(run_dir)
        return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    started = time.time()
    print(f"\nenvctl: the run hit its timeout of {timeout:g}s; stopping the tests", file=sys.stderr,
          flush=True)
    proc.send_signal(signal.SIGINT)
    if not _wait(proc, GRACE_INTERRUPT):
        proc.terminate()
        if not _wait(proc, GRACE_TERMINATE):
            proc.kill()
            proc.wait()
    try:
        with open(os.path.join(run_dir, "timeout.json"), "w", encoding="utf-8") as handle:
            json.dump({"timeout": timeout, "stopped_at": started}, handle)
    except OSError:
        pass
    _hand_over(run_dir)
    return TIMED_OUT_EXIT


HAND_OVER_LIMIT = 10000  # entries: the exchange folder holds a few files, not a tree


def _hand_over(run_dir: str) -> None:
    """Make what the tests wrote into the exchange folder readable, and (when running as root)
    owned, by the host user, so envctl reads and removes it whatever uid ran the tests."""
    uid = os.environ.get("ENVCTL_HOST_UID", "")
    gid = os.environ.get("ENVCTL_HOST_GID", "")
    owner = (int(uid), int(gid)) if uid.isdigit() and gid.isdigit() and os.geteuid() == 0 else None
    seen = 0
    for root, dirs, files in os.walk(run_dir):
        for name in dirs + files:
            seen += 1
            if seen > HAND_OVER_LIMIT:
                return
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    continue
                if owner is not None:
                    os.chown(path, owner[0], owner[1], follow_symlinks=False)
                if stat.S_ISREG(info.st_mode):
                    os.chmod(path, 0o644)
                elif stat.S_ISDIR(info.st_mode):
                    os.chmod(path, 0o755)  # noqa: S103  # inside the 0700 run dir: the host user must list it


if __name__ == "__main__":
    # As a file: argv[0] is the script. With -c: argv[0] is "-c".
    sys.exit(main(sys.argv[1:]))
