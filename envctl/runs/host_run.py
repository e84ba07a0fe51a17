"""A `test --host` run, as its collector sees it: the environment brought up as for any run,
then the tests started on this machine by a runner process (``host_runner``) with the services'
addresses in their environment, followed to their end and recorded through the lifecycle.

The runner lives in a session of its own and keeps the tests' exit code (``host-exit.json``), so
the run outlives this collector: one that takes over finds the runner (``runner.json``: pid and
start time), waits for it, and records its result. A runner that is gone with no exit code
written ends the run `lost`, with every result the tests had written; whatever they left
running is killed (their cgroup, else their process group).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from envctl.errors import CancelRequestedError, EnvctlError
from envctl.runs import exchange, host_limits, lifecycle
from envctl.runs.cancel import CancelWatch
from envctl.runs.collector_log import say
from envctl.runs.container import PLUGIN_DIR, XDIST_WORKERS, auto_workers, container_name
from envctl.runs.deadline import DeadlineWatch, host_deadline
from envctl.runs.dependency_watch import DependencyWatch
from envctl.runs.host_files import HostExit, HostPlan, RunnerFile
from envctl.runs.host_process import kill_group, own_commands, signal_group
from envctl.runs.logfile import seal_orphaned
from envctl.runs.outcome import EndFacts
from envctl.runs.progress import read_progress
from envctl.runs.remainder import SELECT_FILE, SELECT_VARIABLE
from envctl.runs.resource_watch import ResourceWatch, sampling_interval
from envctl.runs.state import Counts, RunRecord, RunState
from envctl.runs.store import COLLECTOR_LOG, OUTPUT_LOG

RUNNER_MODULE = "envctl.runs.host_runner"
RUNNER_START_WAIT = 30.0  # seconds a runner has to write runner.json once started
POLL = 0.1  # seconds between two looks at the runner while the tests run
RECHECK_DELAY = 0.5  # seconds between two looks for a runner that may be between fork and exec
# The graces of `envctl stop` (control.STOP_ESCALATION): the first signal goes to the runner.
STOP_ESCALATION = ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0))
MEMORY_VARIABLE = "ENVCTL_MEMORY_CGROUP"  # envctl_memory.CHOSEN_VARIABLE, spelled again (never imported)


def variables(run_dir: Path, record: RunRecord, addresses: Mapping[str, str],
              environ: Mapping[str, str], cgroup: host_limits.HostCgroup | None) -> dict[str, str]:
    """What the tests' environment gains: the services' addresses (ENVCTL_<SERVICE>_*), envctl's
    plugin (its events, progress and JUnit), a shard's share, a resume's selection, `-n auto`'s
    worker count under the CPU limit, and the memory cgroup the plugin reads per test."""
    added = dict(addresses)
    path = environ.get("PYTHONPATH", "")
    plugins = environ.get("PYTEST_PLUGINS", "")
    added |= {
        "PYTHONPATH": os.pathsep.join([str(PLUGIN_DIR), *([path] if path else [])]),
        "PYTEST_PLUGINS": ",".join([*([plugins] if plugins else []), "envctl_progress"]),
        "ENVCTL_PROGRESS_DIR": str(exchange.box(run_dir)),
        "ENVCTL_RUN_ID": record.id,
        MEMORY_VARIABLE: (cgroup.memory_dir() or "off") if cgroup is not None else "off",
    }
    if XDIST_WORKERS not in environ:
        added[XDIST_WORKERS] = str(auto_workers(record.limits.cpus))
    if record.shard:
        added |= {"ENVCTL_SHARD": record.shard,
                  "ENVCTL_DURATIONS": str(run_dir / exchange.INPUT_DIR / exchange.DURATIONS_FILE)}
    if record.resumes is not None and (run_dir / exchange.INPUT_DIR / SELECT_FILE).exists():
        added[SELECT_VARIABLE] = str(run_dir / exchange.INPUT_DIR / SELECT_FILE)
    return added


def run_host(run_dir: Path, record: RunRecord, cancel: CancelWatch) -> RunRecord:
    """Start the tests on this machine (unless a runner was started already), follow them, record
    their end."""
    try:
        plan = HostPlan.load(run_dir)
    except ValueError as exc:
        return lifecycle.finish(run_dir, EndFacts(infra_error=f"the host run's plan: {exc}",
                                                  cancel_requested=cancel()))
    if plan is None:
        if cancel():
            return lifecycle.finish(run_dir, EndFacts(cancel_requested=True))
        try:
            plan = _start(run_dir, record, cancel)
        except CancelRequestedError:
            return lifecycle.finish(run_dir, EndFacts(cancel_requested=True))
        except EnvctlError as exc:
            return lifecycle.finish(run_dir, EndFacts(infra_error=exc.message, cancel_requested=cancel()))
    else:
        _restart_a_runner_never_started(run_dir)
    runner = _await_runner(run_dir)
    if runner is None:
        return lifecycle.finish(run_dir, EndFacts(
            cancel_requested=cancel(),
            infra_error=f"the runner on this machine never started (see {COLLECTOR_LOG})"))
    return _follow(run_dir, lifecycle.mark_running(run_dir, runner.started_at), plan, runner, cancel)


def _start(run_dir: Path, record: RunRecord, cancel: CancelWatch) -> HostPlan:
    """The environment up and ready, the plan written, the runner started."""
    from envctl.env.endpoints import project_endpoints  # noqa: PLC0415
    from envctl.runs.fingerprint import Recorder  # noqa: PLC0415
    from envctl.runs.launch import environment_from_file  # noqa: PLC0415

    env, request = environment_from_file(run_dir)
    fingerprinting = Recorder(run_dir, env.settings)
    try:
        with env.start_lock(cancelled=cancel):
            if not request.no_up:
                env.ensure_up(cancelled=cancel)
            fingerprinting.environment(env)
        addresses = project_endpoints(env.project, timeout=env.settings.docker_timeout).variables()
    except EnvctlError:
        fingerprinting.environment(None)
        raise
    if cancel():
        raise CancelRequestedError("the run was cancelled before its tests started")
    for left in host_limits.leftovers():  # this run's, made by a collector killed before its plan
        if left.run_id == record.id:
            host_limits.kill_all(left)
            host_limits.remove(left)
    made = host_limits.make(record.id, record.limits)
    cgroup = made if isinstance(made, host_limits.HostCgroup) else None
    note = made if isinstance(made, str) else None
    if note:
        say(f"collector {run_dir.name}: {note}")
    plan = HostPlan(tuple(record.command), variables(run_dir, record, addresses, os.environ, cgroup),
                    request.cwd, record.timeout, record.log_cap, cgroup, note)
    plan.store(run_dir)  # before the runner: a collector that takes over never starts a second one
    _spawn_runner(run_dir)
    return plan


def _spawn_runner(run_dir: Path) -> None:
    """The runner, in a session of its own (it outlives this process), its own output into
    collector.log; never with the current folder on its import path (-P)."""
    from envctl.runs.spawn import runner_environment  # noqa: PLC0415

    log = os.open(run_dir / COLLECTOR_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    try:
        subprocess.Popen([sys.executable, "-P", "-m", RUNNER_MODULE, str(run_dir)],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                         env=runner_environment(), close_fds=True)
    finally:
        os.close(log)


def _restart_a_runner_never_started(run_dir: Path) -> None:
    """A collector that takes over a run whose plan is written but whose runner never wrote
    itself down: its starter was killed between the two. If no runner for this run is alive on
    this machine (looked for twice: one may be between its fork and its exec), start it; the
    tests had not started (the runner writes itself down before it starts them)."""
    for _look in range(2):
        try:
            if RunnerFile.load(run_dir) is not None:
                return
        except ValueError:
            return  # damaged: the wait below says so
        if runner_under_way(run_dir) is not False:
            return
        time.sleep(RECHECK_DELAY)
    say(f"collector {run_dir.name}: the runner was never started (its starter was killed): starting it")
    _spawn_runner(run_dir)


def runner_under_way(run_dir: Path, proc: Path = Path("/proc")) -> bool | None:
    """Whether a runner of ``run_dir`` is alive on this machine (None: cannot tell, no /proc)."""
    commands = own_commands(proc)
    if commands is None:
        return None
    wanted = (RUNNER_MODULE.encode(), str(run_dir).encode())
    return any(all(part in argv for part in wanted) for argv in commands)


def _await_runner(run_dir: Path) -> RunnerFile | None:
    """The runner as it wrote itself down; None when it never did within RUNNER_START_WAIT, or its
    file is damaged."""
    deadline = time.monotonic() + RUNNER_START_WAIT
    while True:
        try:
            runner = RunnerFile.load(run_dir)
        except ValueError as exc:
            say(f"collector {run_dir.name}: {exc}")
            return None
        if runner is not None or time.monotonic() > deadline:
            return runner
        time.sleep(POLL / 2)


def _follow(run_dir: Path, record: RunRecord, plan: HostPlan, runner: RunnerFile,
            cancel: CancelWatch) -> RunRecord:
    if record.state.terminal:
        return record
    stop = Stopper(run_dir, runner)
    cancel.on_cancel = stop
    if cancel():
        stop()
    overtime = DeadlineWatch(host_deadline(record), stop)
    overtime.start()
    name = container_name(record.project, record.service, record.id)  # no such container: none excluded
    watch = DependencyWatch(record.project, name, run_dir)
    watch.start(since=record.started_at)
    # Without a cgroup the tests' figures cannot be read apart from the machine's: services only.
    resources = ResourceWatch(run_dir, record.project, name, interval=sampling_interval(run_dir),
                              host_cgroup=plan.cgroup, tests_sampled=plan.cgroup is not None)
    resources.start()
    ended = _await_exit(run_dir, runner)
    deadline_passed = overtime.stop()
    resources.stop()
    if ended is None or not ended.final:  # the runner is gone: what it started goes too
        _kill_the_rest(run_dir, plan, runner)
        seal_orphaned(run_dir)
    if ended is None or not ended.final:
        ended_at = ended.ended_at if ended else time.time()
        lifecycle.mark_collecting(run_dir, log_bytes=_size(run_dir / OUTPUT_LOG), log_cut_bytes=0,
                                  log_error="the runner was killed: output may be missing")
    else:
        ended_at = ended.ended_at
        lifecycle.mark_collecting(run_dir, log_bytes=ended.log_bytes, log_cut_bytes=ended.log_cut_bytes,
                                  log_error=ended.log_error)
    refused = exchange.copy_results(run_dir)
    for problem in refused:
        say(f"collector {run_dir.name}: refused {problem}")
    since = record.started_at or record.created_at
    events = [e for e in watch.stop() if since - 1.0 <= e.at <= ended_at + 1.0]
    oom_kills, peak, limit = _memory(ended, plan)
    facts = EndFacts(
        exit_code=ended.exit_code if ended else None, container_gone=ended is None, on_host=True,
        oom_killed=bool(oom_kills), session_exit=exchange.session_exit(run_dir),
        cancel_requested=cancel.requested_before(ended_at),
        timed_out=ended is not None and ended.timed_out, deadline_passed=deadline_passed,
        running_test=exchange.running_test(run_dir), dependency_events=tuple(events),
        memory_peak=peak, memory_limit=limit)
    return lifecycle.finish(run_dir, facts, _counts(run_dir), refused)


def _memory(ended: HostExit | None, plan: HostPlan) -> tuple[int | None, int | None, int | None]:
    """The tests' OOM kills, peak and limit: the runner's reading of the cgroup as they ended,
    else this collector's, if the cgroup is still there (None where neither is known)."""
    if ended is not None and ended.oom_kills is not None:
        return ended.oom_kills, ended.memory_peak, ended.memory_limit
    if plan.cgroup is None:
        return None, None, None
    used = host_limits.usage(plan.cgroup)
    return used.oom_kills, used.memory_peak, used.memory_limit


def _await_exit(run_dir: Path, runner: RunnerFile) -> HostExit | None:
    """The tests' end as the runner wrote it, once final (the log finished) or once the runner is
    gone; None when it is gone without writing it (or ran in another boot)."""
    while True:
        try:
            ended = HostExit.load(run_dir)
        except ValueError as exc:
            say(f"collector {run_dir.name}: {exc}")
            return None
        if ended is not None and ended.final:
            runner.runner.reap()
            return ended
        if not runner.this_boot() or not runner.runner.running():
            runner.runner.reap()
            with contextlib.suppress(ValueError):  # written as it ended, after our last look
                return HostExit.load(run_dir)
            return None
        time.sleep(POLL)


def _kill_the_rest(run_dir: Path, plan: HostPlan, runner: RunnerFile) -> None:
    """Whatever the tests left running once their runner is gone (its group, its cgroup)."""
    try:
        current = RunnerFile.load(run_dir) or runner
    except ValueError:
        current = runner
    if current.tests is not None and current.this_boot():
        kill_group(current.tests, current.session)
    if plan.cgroup is not None:
        host_limits.kill_all(plan.cgroup)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _counts(run_dir: Path) -> Counts:
    return read_progress(run_dir).counts


class Stopper:
    """A stop, as `envctl stop` does it for a container: interrupt the runner (it passes one
    SIGINT to the tests), then terminate and kill the tests' group, each after its grace."""

    def __init__(self, run_dir: Path, runner: RunnerFile) -> None:
        self.run_dir = run_dir
        self.runner = runner
        self.started = False

    def __call__(self) -> None:
        if self.started:
            return
        self.started = True
        import threading  # noqa: PLC0415

        threading.Thread(target=self._escalate, daemon=True, name="envctl-host-stop").start()

    def _escalate(self) -> None:
        for signum, grace in STOP_ESCALATION:
            try:
                current = RunnerFile.load(self.run_dir) or self.runner
            except ValueError:
                current = self.runner
            if not current.this_boot():
                return
            if signum == signal.SIGINT and current.runner.running():
                with contextlib.suppress(OSError):
                    os.kill(current.runner.pid, signum)
            elif current.tests is not None:
                signal_group(current.tests, signum, current.session)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                tests_ended = current.tests is not None and not current.tests.running()
                if tests_ended or not current.runner.running():
                    return
                time.sleep(POLL)


def clean_host(run_dir: Path, record: RunRecord) -> None:
    """Once the record is final: anything the tests left in their cgroup is killed and the cgroup
    removed (what stays is said; `envctl gc` tries again)."""
    if not record.state.terminal or record.state is RunState.STARTING:
        return
    try:
        plan = HostPlan.load(run_dir)
    except ValueError:
        return
    if plan is None or plan.cgroup is None:
        return
    host_limits.kill_all(plan.cgroup)
    left = host_limits.remove(plan.cgroup)
    if left:
        say(f"collector {run_dir.name}: {left}")


STRAY_AFTER = 300.0  # seconds: an empty cgroup of a run not in this log dir this old is no start's


def sweep_cgroups(log_dir: Path, now: float | None = None) -> list[str]:
    """`envctl gc`: remove the host-run cgroups a run left (its collector killed before its clean
    up, a machine that lost power): those of this log dir's runs that ended or are gone, and
    empty ones of runs elsewhere, once they are old (another project's run may be starting in
    one); the run ids whose cgroups went."""
    from envctl.errors import DamagedRunError  # noqa: PLC0415

    removed = []
    moment = time.time() if now is None else now
    for cgroup in host_limits.leftovers():
        try:
            record: RunRecord | None = RunRecord.load(log_dir / cgroup.run_id)
        except FileNotFoundError:
            record = None
        except (DamagedRunError, OSError):
            continue
        if record is not None and not record.state.terminal:
            continue
        if record is None and (host_limits.pids(cgroup) or moment - _made_at(cgroup) < STRAY_AFTER):
            continue
        host_limits.kill_all(cgroup)
        if host_limits.remove(cgroup) is None:
            removed.append(cgroup.run_id)
    return removed


def _made_at(cgroup: host_limits.HostCgroup) -> float:
    try:
        return Path(cgroup.paths[0]).stat().st_mtime
    except OSError:
        return 0.0
