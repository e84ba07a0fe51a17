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
from collections.abc import Callable, Mapping
from pathlib import Path

from envctl.addresses import is_address_variable
from envctl.errors import EnvctlError
from envctl.runs import exchange
from envctl.runs.capture import OutputLog
from envctl.runs.host_files import HostExit, HostPlan, RunnerFile
from envctl.runs.host_limits import HostCgroup, join, usage
from envctl.runs.host_process import ProcessId, boot_id, group_members, signal_group
from envctl.runs.state import RunRecord
from envctl.runs.store import CANCEL_FILE

# What the plugin reads, which only this run may set: a caller's (a shell that ran a shard, a
# resume) would select other tests or write elsewhere.
PLUGIN_VARIABLES = frozenset({"ENVCTL_PROGRESS_DIR", "ENVCTL_SHARD", "ENVCTL_DURATIONS", "ENVCTL_SELECT",
                              "ENVCTL_MEMORY_CGROUP", "ENVCTL_RUN_ID", "ENVCTL_ATTACH_GATE"})

TIMED_OUT_EXIT = 124  # as the runner in a container (envctl_runner.TIMED_OUT_EXIT)
GRACE_INTERRUPT = 10.0
GRACE_TERMINATE = 5.0
DRAIN = 2.0  # seconds the output is read after the tests ended (a daemon they left may hold it)
LEFTOVER_GRACE = 1.0  # seconds what the tests left running has after SIGTERM, before SIGKILL
STOPPED_EXIT = 130  # the tests never started: the run was stopped (its state says cancelled)
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
        self.session: int | None = None
        self.pending: list[int] = []  # signals that came before the tests' group existed
        self.interrupted = False
        self.once = threading.RLock()  # the one SIGINT, between the deadline thread and a handler
        self.timed_out = False
        self.ended_at: float | None = None

    def say(self, text: str) -> None:
        self.write(f"\nenvctl: {text}\n".encode())

    def write(self, data: bytes) -> None:
        with self.lock:
            if not self.closed:
                self.log.write(data)

    def run(self) -> int:
        # The handlers first: a stop may come as soon as runner.json says where the runner is.
        signal.signal(signal.SIGINT, self.forward)
        signal.signal(signal.SIGTERM, self.forward)
        me = ProcessId.of(os.getpid())
        if me is None:  # no /proc: the collector could never find it (`--host` refuses this)
            sys.stderr.write("envctl host runner: no /proc: cannot say who runs the tests\n")
            return 2
        started = time.time()
        self.session = os.getsid(0)  # the tests' group is made in it (setpgid keeps the session)
        RunnerFile(me, started, boot=boot_id(), sid=self.session).store(self.run_dir)
        if self.stopped_before_start():
            self.say("the run was stopped before its tests started")
            return self.end(STOPPED_EXIT)
        try:
            # argv from the run's own settings, no shell; preexec_fn is safe: one thread here
            proc = subprocess.Popen(
                self.plan.argv, cwd=self.plan.cwd, env=tests_environment(os.environ, self.plan.env),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                preexec_fn=_first_steps(self.plan.cgroup))  # noqa: PLW1509
        except (OSError, subprocess.SubprocessError) as exc:
            why = f"{exc}" if not isinstance(exc, subprocess.SubprocessError) or self.plan.cgroup is None \
                else f"{exc} (joining the run's cgroup, or changing to {self.plan.cwd}, failed)"
            self.say(f"cannot start {self.plan.argv[0]!r} on this machine: {why}")
            return self.end(127)
        self.leader = ProcessId.of(proc.pid)
        RunnerFile(me, started, self.leader, boot_id(), self.session).store(self.run_dir)
        for signum in self.pending:  # a stop that came while the tests were being started
            self.forward(signum, None)
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
        code = TIMED_OUT_EXIT if self.timed_out else (code if code >= 0 else 128 - code)
        # The exit code at once: a runner killed while the output drains keeps the result.
        self.exit_file(code, final=False)
        self.clear_group()
        reader.join(DRAIN)
        if not reader.is_alive():  # else a daemon the tests left holds it: the runner's exit closes it
            proc.stdout.close()
        return self.end(code)

    def stopped_before_start(self) -> bool:
        """A stop asked for, or the run already ended (a runner started too late), before the
        tests start: they never do."""
        if self.pending or (self.run_dir / CANCEL_FILE).exists():
            return True
        try:
            return RunRecord.load(self.run_dir).state.terminal
        except (OSError, EnvctlError):
            return False

    def clear_group(self) -> None:
        """What the tests left running in their group once pytest has ended (a server a fixture
        started, a stuck worker): terminated, then killed, so nothing of the run outlives it."""
        if self.leader is None:
            return
        if signal_group(self.leader, signal.SIGTERM, self.session):
            deadline = time.monotonic() + LEFTOVER_GRACE
            while group_members(self.leader, self.session) and time.monotonic() < deadline:
                time.sleep(0.05)
            signal_group(self.leader, signal.SIGKILL, self.session)

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
        """A stop: passed on to the tests' group (SIGINT once, whoever asks: a stop or the
        timeout, so pytest writes its reports); kept for later while they are being started."""
        if self.leader is None:
            self.pending.append(signum)
            return
        if signum == signal.SIGINT:
            with self.once:  # re-entrant: a handler may run while the main thread holds it
                if self.interrupted:
                    return
                self.interrupted = True
        signal_group(self.leader, signum, self.session)

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
            self.forward(signum, None)
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
        self.exit_file(code, final=True)
        return code

    def exit_file(self, code: int, *, final: bool) -> None:
        """host-exit.json: the code, the log's figures (once final), the cgroup's OOM kills and
        peak (read now: a collector that records later may find the cgroup gone)."""
        if self.ended_at is None:
            self.ended_at = time.time()
        used = usage(self.plan.cgroup) if self.plan.cgroup is not None else None
        HostExit(code, self.ended_at, self.log.total, self.log.cut, self.log.error, self.timed_out, final,
                 used.oom_kills if used else None, used.memory_peak if used else None,
                 used.memory_limit if used else None).store(self.run_dir)


def tests_environment(inherited: Mapping[str, str], added: Mapping[str, str]) -> dict[str, str]:
    """The tests' environment: the caller's without stale service addresses (a shell that once
    `eval`ed `envctl env`) or the plugin's variables, then this run's."""
    kept = {k: v for k, v in inherited.items() if k not in PLUGIN_VARIABLES and not is_address_variable(k)}
    return {**kept, **added}


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
