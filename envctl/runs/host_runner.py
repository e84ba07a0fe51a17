"""The runner of a `test --host` run: the small process that runs the tests on this machine and
keeps their exit code (``python -P -m envctl.runs.host_runner RUN_DIR``).

The collector starts it in a session of its own, so it outlives the collector, the shell and
every envctl CLI process; what a container's main process and the engine do for a container run,
it does for the host: it starts the tests (``host.json``: command, variables, folder) in a
process group of their own, in the run's cgroup when there is one (the limits), writes their
output into the run's capped log, holds the run's timeout (interrupt, terminate, kill, then
``timeout.json`` in the exchange folder, as the runner in a container does), passes a stop on to
them (one SIGINT: a second would cut pytest's reports short), and once they have ended writes
``host-exit.json``. A collector, the first or one that took over, reads that file; with the
runner gone and no file, the run is `lost`, with whatever results the tests had written.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from envctl.runs import exchange
from envctl.runs.capture import OutputLog
from envctl.runs.host_files import HostExit, HostPlan, RunnerFile
from envctl.runs.host_limits import HostCgroup, join
from envctl.runs.host_process import ProcessId, signal_group

TIMED_OUT_EXIT = 124  # as the runner in a container (envctl_runner.TIMED_OUT_EXIT)
GRACE_INTERRUPT = 10.0
GRACE_TERMINATE = 5.0
DRAIN = 2.0  # seconds the output is read after the tests ended (a daemon they left may hold it)
READ_SIZE = 1 << 16


class Runner:
    """One run's tests, from their start to ``host-exit.json``."""

    def __init__(self, run_dir: Path, plan: HostPlan) -> None:
        self.run_dir = run_dir
        self.plan = plan
        self.log = OutputLog(run_dir, plan.log_cap)
        self.lock = threading.Lock()  # the log: the reader's output and the runner's own lines
        self.closed = False
        self.leader: ProcessId | None = None
        self.interrupted = False
        self.timed_out = False

    def say(self, text: str) -> None:
        self.write(f"\nenvctl: {text}\n".encode())

    def write(self, data: bytes) -> None:
        with self.lock:
            if not self.closed:
                self.log.write(data)

    def run(self) -> int:
        me = ProcessId.of(os.getpid())
        started = time.time()
        if me is not None:
            RunnerFile(me, started).store(self.run_dir)
        try:
            # argv from the run's own settings, no shell; preexec_fn is safe: one thread here
            proc = subprocess.Popen(
                self.plan.argv, cwd=self.plan.cwd, env={**os.environ, **self.plan.env},
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                preexec_fn=_first_steps(self.plan.cgroup))  # noqa: PLW1509
        except (OSError, subprocess.SubprocessError) as exc:
            self.say(f"cannot start {self.plan.argv[0]!r} on this machine: {exc}")
            return self.end(127)
        self.leader = ProcessId.of(proc.pid)
        if me is not None:
            RunnerFile(me, started, self.leader).store(self.run_dir)
        signal.signal(signal.SIGINT, self.forward)
        signal.signal(signal.SIGTERM, self.forward)
        assert proc.stdout is not None  # noqa: S101  # stdout=PIPE
        reader = threading.Thread(target=self.read, args=(proc.stdout.fileno(),), daemon=True,
                                  name="envctl-host-output")
        reader.start()
        deadline = threading.Thread(target=self.hold_deadline, args=(proc,), daemon=True,
                                    name="envctl-host-deadline")
        if self.plan.timeout > 0:
            deadline.start()
        code = proc.wait()
        if self.timed_out:  # its marker is written before the exit, as in a container
            deadline.join(GRACE_INTERRUPT + 2 * GRACE_TERMINATE)
        reader.join(DRAIN)
        if not reader.is_alive():  # else a daemon the tests left holds it: the runner's exit closes it
            proc.stdout.close()
        if self.timed_out:
            return self.end(TIMED_OUT_EXIT)
        return self.end(code if code >= 0 else 128 - code)

    def read(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, READ_SIZE)
            except OSError:
                return
            if not chunk:
                return
            self.write(chunk)

    def forward(self, signum: int, _frame: object) -> None:
        """A stop: passed on to the tests' group (SIGINT once, so pytest writes its reports)."""
        if signum == signal.SIGINT:
            if self.interrupted:
                return
            self.interrupted = True
        if self.leader is not None:
            signal_group(self.leader, signum)

    def hold_deadline(self, proc: subprocess.Popen[bytes]) -> None:
        try:
            proc.wait(timeout=self.plan.timeout)
        except subprocess.TimeoutExpired:
            pass
        else:
            return
        stopped_at = time.time()
        self.timed_out = True
        self.say(f"the run hit its timeout of {self.plan.timeout:g}s; stopping the tests")
        for signum, grace in ((signal.SIGINT, GRACE_INTERRUPT), (signal.SIGTERM, GRACE_TERMINATE),
                              (signal.SIGKILL, GRACE_TERMINATE)):
            if self.leader is not None:
                signal_group(self.leader, signum)
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(OSError):
            # The same marker the runner in a container leaves, in the same place.
            (exchange.box(self.run_dir) / exchange.TIMEOUT_FILE).write_text(
                json.dumps({"timeout": self.plan.timeout, "stopped_at": stopped_at}), encoding="utf-8")

    def end(self, code: int) -> int:
        with self.lock:
            self.closed = True
            self.log.close()
        HostExit(code, time.time(), self.log.total, self.log.cut, self.log.error,
                 self.timed_out).store(self.run_dir)
        return code


def _first_steps(cgroup: HostCgroup | None) -> Callable[[], None]:
    """The child's steps before it runs the tests: a process group of its own (a stop reaches
    the tests and whatever they start, never the runner), then the run's cgroup, if any."""

    def steps() -> None:
        os.setpgid(0, 0)  # Popen's process_group=0, which Python 3.10 lacks
        if cgroup is not None:
            join(cgroup)

    return steps


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m envctl.runs.host_runner RUN_DIR\n")
        return 2
    run_dir = Path(argv[0])
    try:
        plan = HostPlan.load(run_dir)
    except ValueError as exc:
        sys.stderr.write(f"envctl host runner: {exc}\n")
        return 2
    if plan is None:
        sys.stderr.write(f"envctl host runner: no {run_dir}/host.json\n")
        return 2
    return Runner(run_dir, plan).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
