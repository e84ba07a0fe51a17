"""The collector: the detached process that starts a run's test container, records its output,
exit and state through the lifecycle, then removes it.

Started by `envctl test` in a session of its own (``python -m envctl.runs.collector``), so it
outlives the shell that started the run. It holds the run's lock for as long as it lives; the
kernel drops it if the collector dies, even by kill -9, and the one command step that takes a
run over (``control.take_over``) then starts another. That one finds the container still there
(it is removed last, after the record is final) and replays its output from the first byte.

Its parts: ``cancel`` (the stop request), ``capture`` (the output log), ``dependency_watch``
(the environment under the tests), ``cleanup`` (what goes once the record is final) and
``parent`` (a --shards parent's end).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.errors import CancelRequestedError, ContainerGoneError, EngineUnavailableError, EnvctlError
from envctl.runs import exchange, lifecycle
from envctl.runs.cancel import CANCEL_SLACK, CancelWatch
from envctl.runs.collector_log import say
from envctl.runs.logfile import tail_lines
from envctl.runs.outcome import EndFacts
from envctl.runs.progress import counts_from_output, read_progress
from envctl.runs.state import Counts, DependencyEvent, RunRecord, RunState
from envctl.runs.store import DETACHED_FILE, UNMOUNTED_RUN_DIR, collector_lock

if TYPE_CHECKING:
    from envctl.docker.engine import Engine
    from envctl.docker.models import ContainerState
    from envctl.report.usage import Resources

CREATE_WAIT = 120.0  # how long a taking-over collector waits for `compose run` to create it
START_WAIT = 120.0  # how long a created container may take to be started by `compose run`
ENGINE_STOP_BEFORE = 30.0  # seconds: a daemon stops its containers before its API goes away
ENGINE_BACK_WITHIN = 300.0  # seconds: a restarted daemon stamps their end when it is back
RECHECK_DELAY = 0.5  # seconds between two looks for a container nobody seems to be creating
AWAIT_POLL = 0.1  # seconds between two inspects while waiting for compose to create or start it
# What only following the container, and the end, need: imported while `compose run` starts it
# (``_import_the_rest``), not before, where it would hold back the start (~30 ms).
LATER = ("envctl.runs.capture", "envctl.runs.cleanup", "envctl.runs.deadline",
         "envctl.runs.dependency_watch", "envctl.runs.hook", "envctl.runs.resource_watch",
         "envctl.runs.history")  # the JUnit and history readers: ~15 ms of the end before


def collect(run_dir: Path, *, held_fd: int | None = None) -> RunRecord | None:
    """Start (if needed), follow and record the run; None when another collector holds it."""
    with collector_lock(run_dir, held_fd=held_fd) as mine:
        if not mine:
            return None
        record = RunRecord.load(run_dir)
        _redact_the_projects_secrets(run_dir)
        if not record.state.terminal:
            with CancelWatch(run_dir) as cancel:
                try:
                    if record.host:
                        from envctl.runs.host_run import run_host  # noqa: PLC0415

                        record = run_host(run_dir, record, cancel)
                    elif record.container is None or _start_was_cut_short(record):
                        record = _start(run_dir, record, cancel)
                    if not record.state.terminal and not record.host:
                        _imported()
                        record = _collect_container(run_dir, record, cancel)
                except EngineUnavailableError:
                    # The run stays as it is; `wait` takes it over once the engine is back, and
                    # then knows that it went away.
                    with contextlib.suppress(OSError, EnvctlError):
                        lifecycle.note_engine_lost(run_dir, time.time())
                    raise
                except Exception as exc:  # a run must end, even when envctl fails around it
                    say(traceback.format_exc().rstrip())
                    record = lifecycle.finish(run_dir, EndFacts(
                        cancel_requested=cancel(),
                        infra_error=f"envctl failed while recording the run: {type(exc).__name__}: "
                                    f"{exc} (the traceback is in collector.log)"))
        # Before the clean-up: until the record says `cleaned`, a collector killed here leaves
        # a run that `wait` takes over, and the next one runs the hook (hook.json: once) and
        # records the history (a run is recorded once, by its id), so that once `wait` returns
        # the history holds the run.
        _imported()
        from envctl.runs.cleanup import clean_up  # noqa: PLC0415  # see LATER
        from envctl.runs.hook import run_end_hook  # noqa: PLC0415

        run_end_hook(run_dir)
        clean_up(run_dir, record, meanwhile=lambda: _record_history(run_dir))  # beside the removal
        return RunRecord.load(run_dir)


def _record_history(run_dir: Path) -> None:
    """The ended run into the tests' history; a failure there is said, never the run's."""
    from envctl.runs.history import record_history  # noqa: PLC0415

    try:
        record_history(run_dir, RunRecord.load(run_dir))
    except Exception as exc:  # the history is a side record: the run stands as recorded
        say(f"collector {run_dir.name}: the history was not updated: {type(exc).__name__}: {exc}")


def _redact_the_projects_secrets(run_dir: Path) -> None:
    """What this collector writes (the record, collector.log) never holds the project's `.env`
    values or its `secrets` setting's, whoever started the run: the run's Environment, made
    here, registers them."""
    from envctl.runs.launch import environment_from_file  # noqa: PLC0415

    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, EnvctlError):
        environment_from_file(run_dir)  # a --shards parent has none; its shards' collectors redact


def _start_was_cut_short(record: RunRecord) -> bool:
    """The container is named but does not exist, and no `compose run` on this machine is making
    it: its starter died between naming it and running compose, so the start is done again."""
    from envctl.docker import timeouts  # noqa: PLC0415
    from envctl.docker.engine import Engine  # noqa: PLC0415
    from envctl.runs.launch import creation_under_way  # noqa: PLC0415

    if record.state is not RunState.STARTING or record.container is None:
        return False
    if creation_under_way(record.container) is not False:
        return False
    with Engine(timeout=timeouts.CALL, host=record.engine) as engine:
        if engine.container_state(record.container) is not None:
            return False
    # compose may have been between its last look at /proc and creating it: look once more.
    time.sleep(RECHECK_DELAY)
    with Engine(timeout=timeouts.CALL, host=record.engine) as engine:
        return creation_under_way(record.container) is False \
            and engine.container_state(record.container) is None


def _start(run_dir: Path, record: RunRecord, cancel: CancelWatch) -> RunRecord:
    from envctl.runs.launch import start_container  # noqa: PLC0415

    if cancel():
        return lifecycle.finish(run_dir, EndFacts(cancel_requested=True))
    if not (run_dir / DETACHED_FILE).exists():
        return lifecycle.finish(run_dir, EndFacts(infra_error="the run never got a test container"))
    try:
        return start_container(run_dir, record, cancel, while_compose_runs=_import_the_rest)
    except CancelRequestedError:
        return lifecycle.finish(run_dir, EndFacts(cancel_requested=True))
    except EnvctlError as exc:
        return lifecycle.finish(run_dir, EndFacts(infra_error=exc.message, cancel_requested=cancel()))


IMPORT_WAIT = 60.0  # seconds the collector waits for that thread before importing itself
_IMPORTING: list[threading.Thread] = []


def _import_the_rest() -> None:
    """Import LATER in a thread: `compose run` is starting the container, and this process only
    waits for it meanwhile. ``_imported`` waits for it before the first of them is used."""
    import importlib  # noqa: PLC0415

    def load() -> None:
        for name in LATER:
            with contextlib.suppress(ImportError):  # the caller's own import says what is wrong
                importlib.import_module(name)

    thread = threading.Thread(target=load, daemon=True, name="import-collecting")
    _IMPORTING.append(thread)
    thread.start()


def _imported() -> None:
    """The thread of ``_import_the_rest`` is over: no module of LATER is used half-made."""
    while _IMPORTING:
        _IMPORTING.pop().join(IMPORT_WAIT)


def _collect_container(run_dir: Path, record: RunRecord, cancel: CancelWatch) -> RunRecord:
    from envctl.docker import timeouts  # noqa: PLC0415
    from envctl.docker.engine import Engine  # noqa: PLC0415  # lazy: the SDK is heavy
    from envctl.runs import capture, deadline, dependency_watch, resource_watch  # noqa: PLC0415  # see LATER

    name = str(record.container)
    host = record.engine
    with Engine(timeout=timeouts.CALL, host=host) as engine, \
            Engine(timeout=timeouts.CALL, host=host) as streaming:
        state = engine.container_state(name)
        if state is None and record.state is RunState.STARTING:
            # Named but not there yet: a starter killed during `compose run` leaves compose
            # running, and it creates the container in a moment.
            state = _await(engine, name, cancel, lambda s: s is not None, CREATE_WAIT)
            if state is None:
                return lifecycle.finish(run_dir, EndFacts(
                    cancel_requested=cancel(),
                    infra_error="the test container was never created (its starter was stopped)"))
        if state is not None and not state.started:
            state = _await(engine, name, cancel, lambda s: s is None or s.started or bool(s.error),
                           START_WAIT)
        if state is None:
            return lifecycle.finish(run_dir, EndFacts(container_gone=True, cancel_requested=cancel()))
        if not state.started:  # created, never started: its exit code 0 means nothing
            engine.remove(name)
            why = state.error or f"not started within {START_WAIT:.0f}s"
            return lifecycle.finish(run_dir, EndFacts(
                cancel_requested=cancel(), infra_error=f"the test container was created but {why}"))
        watch = dependency_watch.DependencyWatch(record.project, name, run_dir, host=host)
        running: list[RunRecord] = []
        # With the exchange mounted, the runner says when its clock started: a tighter deadline.
        overtime = deadline.DeadlineWatch(None, lambda: _stop_container(name, host), refine=(
            lambda: deadline.refined_deadline(running[0], exchange.runner_clock(run_dir)))
            if record.injected else None)
        usage = resource_watch.ResourceWatch(run_dir, record.project, name,
                                             interval=resource_watch.sampling_interval(run_dir),
                                             open_engine=lambda: resource_watch.engine_at(host))

        started_at = state.started_at

        def begin() -> bool:
            """Record the run as running, watch the rest of the environment (from the
            container's start) and honour a stop asked for by now; whether the tests may go
            on. Called once the output is captured, before the gate opens."""
            if running:
                return not cancel()
            running.append(lifecycle.mark_running(run_dir, started_at))
            cancel.on_cancel = lambda: _stop_container(name, host)
            watch.start(since=started_at)
            overtime.deadline = deadline.host_deadline(running[0])
            overtime.start()
            usage.start()
            if cancel():
                _stop_container(name, host)
                return False
            return True

        log = capture.capture_output(run_dir, record, streaming, name, follow=not state.ended,
                                     pristine=capture.nothing_written_yet(run_dir, record, state),
                                     on_capturing=begin)
        begin()  # the capture ended before it could (the container went away at once)
        record = running[0]
        exit_seen = time.time()
        final = _await_end(engine, streaming, name)
        deadline_passed = overtime.stop()
        used = usage.stop()
        tests_use = used.test if used is not None else None
        lifecycle.mark_collecting(run_dir, log_bytes=log.total, log_cut_bytes=log.cut, log_error=log.error)
        ended_at = (final.finished_at if final is not None else None) or exit_seen
        if final is None:
            watch.stop()
            return lifecycle.finish(run_dir, EndFacts(container_gone=True,
                                                      cancel_requested=cancel.requested_before(ended_at)))
        _copy_out(engine, name, run_dir, record)
        refused = exchange.copy_results(run_dir)
        for problem in refused:
            say(f"collector {run_dir.name}: refused {problem}")
        since = record.started_at or record.created_at
        events = [with_peak(e, used) for e in watch.stop() + watch.sweep(engine, since=since, until=ended_at)
                  if since - CANCEL_SLACK <= e.at <= ended_at + CANCEL_SLACK]
        facts = EndFacts(exit_code=final.exit_code, oom_killed=final.oom_killed,
                         engine_lost=_ended_with_the_engine(record, ended_at),
                         session_exit=exchange.session_exit(run_dir),
                         signalled_from_outside=watch.killed_with,
                         cancel_requested=cancel.requested_before(ended_at),
                         timed_out=exchange.exchange_file_exists(run_dir, exchange.TIMEOUT_FILE),
                         deadline_passed=deadline_passed,
                         running_test=exchange.running_test(run_dir),
                         dependency_events=tuple(events),
                         memory_peak=tests_use.peak if tests_use else None,
                         memory_limit=tests_use.limit if tests_use else None)
        return lifecycle.finish(run_dir, facts, _final_counts(run_dir), refused)


def _copy_out(engine: Engine, name: str, run_dir: Path, record: RunRecord) -> None:
    """The reports a container kept inside (nothing was mounted; or its folders were shipped
    to an engine that cannot see the exchange folder), copied into the exchange folder."""
    if record.injected and record.shipped_bytes is None:
        return  # written into the exchange folder as the tests ran
    files = (exchange.JUNIT_FILE, exchange.TIMEOUT_FILE) if not record.injected else \
        (*exchange.RESULT_FILES, exchange.TIMEOUT_FILE, exchange.CLOCK_FILE)
    for file_name in files:
        engine.copy_file_out(name, f"{UNMOUNTED_RUN_DIR}/{file_name}", exchange.box(run_dir) / file_name)


def with_peak(event: DependencyEvent, used: Resources | None) -> DependencyEvent:
    """An OOM-killed service's event with the highest memory sampled of it, and its limit."""
    figures = dict(used.services) if used is not None else {}
    usage = figures.get(event.service)
    if event.action != "oom" or usage is None or usage.peak is None:
        return event
    return dataclasses.replace(event, memory_peak=usage.peak, memory_limit=usage.limit)


def _ended_with_the_engine(record: RunRecord, ended_at: float) -> bool:
    """Whether the container ended as the engine went away: a stopping daemon stops its
    containers first (up to its shutdown timeout, 15 s by default) and a restarted one marks
    them exited when it comes back. An end well after the loss (a blip, a live-restore) is not."""
    lost, started = record.engine_lost_at, record.started_at
    if lost is None or started is None or lost < started:
        return False  # lost before the container ran (a start retried): nothing it ran was cut
    return lost - ENGINE_STOP_BEFORE <= ended_at <= lost + ENGINE_BACK_WITHIN


def _await(engine: Engine, name: str, cancel: CancelWatch,
           done: Callable[[ContainerState | None], bool], seconds: float) -> ContainerState | None:
    """Inspect the container until ``done`` says so, a stop is asked for, or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        state = engine.container_state(name)
        if done(state) or cancel() or time.monotonic() > deadline:
            return state
        time.sleep(AWAIT_POLL)


def _await_end(engine: Engine, streaming: Engine, name: str) -> ContainerState | None:
    """The container once it has ended; None when it is gone. Only an absent container is
    lost: one still running after its output ended (a broken attach) is waited for."""
    while True:
        state = engine.container_state(name)
        if state is None or state.ended:
            return state
        try:
            streaming.wait_exit(name)
        except ContainerGoneError:
            return None


def _stop_container(name: str, host: str | None) -> None:
    """A stop was requested: the same escalation as `envctl stop` (this covers a stop whose own
    process died, or that came before the container existed)."""
    from envctl.runs.control import STOP_ESCALATION, escalate  # noqa: PLC0415

    try:
        escalate(name, STOP_ESCALATION, host=host)
    except EnvctlError as exc:
        say(f"collector: could not stop {name}: {exc}")


def _final_counts(run_dir: Path) -> Counts:
    progress = read_progress(run_dir)
    if progress.source == "plugin":
        return progress.counts
    return counts_from_output(tail_lines(run_dir, 200)) or progress.counts


def _reporting(run: Callable[[], RunRecord | None], run_dir: Path) -> int:
    """Collect; what went wrong goes to the collector log, prefixed by the run."""
    try:
        record = run()
    except EngineUnavailableError as exc:
        # Leave the run as it is: a later `wait` takes it over once the engine is back.
        say(f"collector {run_dir.name}: engine lost: {exc}")
        return 1
    except EnvctlError as exc:
        say(f"collector {run_dir.name}: {exc}")
        return 1
    if record is None:
        say(f"collector {run_dir.name}: another collector holds this run")
    return 0


def parse_args(argv: list[str]) -> tuple[list[tuple[Path, int | None]], tuple[Path, int | None] | None]:
    """``[--fd N] RUN_DIR ... [--parent-fd N --parent PARENT_DIR]``: each run with the lock fd
    its spawner handed over, if any, and the --shards parent to finish after them."""
    runs: list[tuple[Path, int | None]] = []
    parent: tuple[Path, int | None] | None = None
    fd: int | None = None
    args = iter(argv)
    for arg in args:
        if arg in ("--fd", "--parent-fd"):
            fd = int(next(args))
        elif arg == "--parent":
            parent = (Path(next(args)), fd)
            fd = None
        else:
            runs.append((Path(arg), fd))
            fd = None
    return runs, parent


def main(argv: list[str]) -> int:
    from envctl import log  # noqa: PLC0415

    log.configure(log_format="json")  # collector.log is read by people and tools alike
    try:
        runs, parent = parse_args(argv)
    except (ValueError, StopIteration):
        runs, parent = [], None
    if not runs and parent is None:
        print("usage: python -m envctl.runs.collector [--fd N] RUN_DIR ... "
              "[--parent-fd N --parent DIR]", file=sys.stderr)
        return 2
    codes: list[int] = []
    threads = [threading.Thread(
        target=lambda r=run_dir, f=fd: codes.append(_reporting(lambda: collect(r, held_fd=f), r)),
        name=f"collect-{run_dir.name}") for run_dir, fd in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if parent is not None:
        parent_dir, parent_fd = parent
        from envctl.runs.hook import run_end_hook  # noqa: PLC0415
        from envctl.runs.parent import collect_parent  # noqa: PLC0415  # a parent's only
        from envctl.runs.retry_infra import retry_shard  # noqa: PLC0415

        codes.append(_reporting(lambda: collect_parent(parent_dir, parent_fd, collect, _record_history,
                                                       run_end_hook, retry=retry_shard),
                                parent_dir))
    return max(codes, default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
