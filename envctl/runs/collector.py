"""The collector: the detached process that starts a run's test container, records its output,
exit and state through the lifecycle, then removes it.

Started by `envctl test` in a session of its own (``python -m envctl.runs.collector``), so it
outlives the shell that started the run. It holds the run's lock for as long as it lives; the
kernel drops it if the collector dies, even by kill -9, and the one command step that takes a
run over (``control.take_over``) then starts another. That one finds the container still there
(it is removed last, after the record is final) and replays its output from the first byte.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envctl.errors import CancelRequestedError, ContainerGoneError, EngineUnavailableError, EnvctlError
from envctl.runs import exchange, lifecycle
from envctl.runs.logfile import CappedLog, tail_lines
from envctl.runs.outcome import EndFacts
from envctl.runs.progress import counts_from_output, read_progress
from envctl.runs.state import Counts, DependencyEvent, RunRecord, RunState
from envctl.runs.store import CANCEL_FILE, DETACHED_FILE, OUTPUT_LOG, UNMOUNTED_RUN_DIR, collector_lock

if TYPE_CHECKING:
    from envctl.docker.engine import Engine
    from envctl.docker.models import ContainerState

CANCEL_POLL = 0.1  # seconds between looks for a stop request (a stat of one file)
CANCEL_SLACK = 1.0  # a stop asked this long after the exit still counts (clock granularity)
CREATE_WAIT = 120.0  # how long a taking-over collector waits for `compose run` to create it
START_WAIT = 120.0  # how long a created container may take to be started by `compose run`
PARENT_POLL = 0.5
ENGINE_STOP_BEFORE = 30.0  # seconds: a daemon stops its containers before its API goes away
ENGINE_BACK_WITHIN = 300.0  # seconds: a restarted daemon stamps their end when it is back
RECHECK_DELAY = 0.5  # seconds between two looks for a container nobody seems to be creating
DISK_RESERVE = 1 << 20  # bytes kept free where the log goes: room for the record and the results
DISK_CHECK_EVERY = 256 << 10  # bytes of output between two looks at the free space
REPLAYED_AFTER = 2.0  # seconds: an event older than this when read names no running test
GATE_MARGIN = 5.0  # seconds: a container started this close to the runner's gate deadline may be past it


class CancelWatch:
    """Watches for the run's stop request; ``on_cancel`` runs once when it appears."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / CANCEL_FILE
        self.seen = threading.Event()
        self.done = threading.Event()
        self.on_cancel: Callable[[], None] | None = None
        self.thread = threading.Thread(target=self._watch, daemon=True, name="envctl-cancel")

    def __call__(self) -> bool:
        return self.seen.is_set() or self.path.exists()

    def requested_before(self, moment: float) -> bool:
        """Whether the stop was asked for before ``moment`` (the container's exit): a stop that
        comes while a finished run is being recorded does not turn its result into `cancelled`."""
        try:
            asked = self.path.stat().st_mtime
        except OSError:
            return False
        return asked <= moment + CANCEL_SLACK

    def __enter__(self) -> CancelWatch:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.done.set()

    def _watch(self) -> None:
        while not self.done.wait(CANCEL_POLL):
            if self.path.exists():
                self.seen.set()
                if self.on_cancel is not None:
                    self.on_cancel()
                return


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
                    if record.container is None or _start_was_cut_short(record):
                        record = _start(run_dir, record, cancel)
                    if not record.state.terminal:
                        record = _collect_container(run_dir, record, cancel)
                except EngineUnavailableError:
                    # The run stays as it is; `wait` takes it over once the engine is back, and
                    # then knows that it went away.
                    with contextlib.suppress(OSError, EnvctlError):
                        lifecycle.note_engine_lost(run_dir, time.time())
                    raise
                except Exception as exc:  # a run must end, even when envctl fails around it
                    _say(traceback.format_exc().rstrip())
                    record = lifecycle.finish(run_dir, EndFacts(
                        cancel_requested=cancel(),
                        infra_error=f"envctl failed while recording the run: {type(exc).__name__}: "
                                    f"{exc} (the traceback is in collector.log)"))
        _clean_up(run_dir, record)
        return RunRecord.load(run_dir)


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
    from envctl.docker.engine import Engine  # noqa: PLC0415
    from envctl.runs.launch import creation_under_way  # noqa: PLC0415

    if record.state is not RunState.STARTING or record.container is None:
        return False
    if creation_under_way(record.container) is not False:
        return False
    with Engine(timeout=60) as engine:
        if engine.container_state(record.container) is not None:
            return False
    # compose may have been between its last look at /proc and creating it: look once more.
    time.sleep(RECHECK_DELAY)
    with Engine(timeout=60) as engine:
        return creation_under_way(record.container) is False \
            and engine.container_state(record.container) is None


def _start(run_dir: Path, record: RunRecord, cancel: CancelWatch) -> RunRecord:
    from envctl.runs.launch import start_container  # noqa: PLC0415

    if cancel():
        return lifecycle.finish(run_dir, EndFacts(cancel_requested=True))
    if not (run_dir / DETACHED_FILE).exists():
        return lifecycle.finish(run_dir, EndFacts(infra_error="the run never got a test container"))
    try:
        return start_container(run_dir, record, cancel)
    except CancelRequestedError:
        return lifecycle.finish(run_dir, EndFacts(cancel_requested=True))
    except EnvctlError as exc:
        return lifecycle.finish(run_dir, EndFacts(infra_error=exc.message, cancel_requested=cancel()))


def _collect_container(run_dir: Path, record: RunRecord, cancel: CancelWatch) -> RunRecord:
    from envctl.docker.engine import Engine  # noqa: PLC0415  # lazy: the SDK is heavy

    name = str(record.container)
    with Engine(timeout=60) as engine, Engine(timeout=None) as streaming:
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
        watch = DependencyWatch(record.project, name, run_dir)
        running: list[RunRecord] = []

        started_at = state.started_at

        def begin() -> bool:
            """Record the run as running, watch the rest of the environment (from the
            container's start) and honour a stop asked for by now; whether the tests may go
            on. Called once the output is captured, before the gate opens."""
            if running:
                return not cancel()
            running.append(lifecycle.mark_running(run_dir, started_at))
            cancel.on_cancel = lambda: _stop_container(name)
            watch.start(since=started_at)
            if cancel():
                _stop_container(name)
                return False
            return True

        log = _capture_output(run_dir, record, streaming, name, follow=not state.ended,
                              pristine=_nothing_written_yet(run_dir, record, state), on_capturing=begin)
        begin()  # the capture ended before it could (the container went away at once)
        record = running[0]
        exit_seen = time.time()
        final = _await_end(engine, streaming, name)
        lifecycle.mark_collecting(run_dir, log_bytes=log.total, log_cut_bytes=log.cut, log_error=log.error)
        ended_at = (final.finished_at if final is not None else None) or exit_seen
        if final is None:
            watch.stop()
            return lifecycle.finish(run_dir, EndFacts(container_gone=True,
                                                      cancel_requested=cancel.requested_before(ended_at)))
        if not record.injected:  # nothing was mounted: the reports are inside the container
            for file_name in (exchange.JUNIT_FILE, exchange.TIMEOUT_FILE):
                engine.copy_file_out(name, f"{UNMOUNTED_RUN_DIR}/{file_name}",
                                     exchange.box(run_dir) / file_name)
        refused = exchange.copy_results(run_dir)
        for problem in refused:
            _say(f"collector {run_dir.name}: refused {problem}")
        since = record.started_at or record.created_at
        events = [e for e in watch.stop() + watch.sweep(engine, since=since, until=ended_at)
                  if since - CANCEL_SLACK <= e.at <= ended_at + CANCEL_SLACK]
        facts = EndFacts(exit_code=final.exit_code, oom_killed=final.oom_killed,
                         engine_lost=_ended_with_the_engine(record, ended_at),
                         session_exit=exchange.session_exit(run_dir),
                         signalled_from_outside=watch.killed_with,
                         cancel_requested=cancel.requested_before(ended_at),
                         timed_out=exchange.exchange_file_exists(run_dir, exchange.TIMEOUT_FILE),
                         running_test=exchange.running_test(run_dir),
                         dependency_events=tuple(events))
        return lifecycle.finish(run_dir, facts, _final_counts(run_dir), refused)


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
        time.sleep(0.1)


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


def _stop_container(name: str) -> None:
    """A stop was requested: the same escalation as `envctl stop` (this covers a stop whose own
    process died, or that came before the container existed)."""
    from envctl.runs.control import STOP_ESCALATION, escalate  # noqa: PLC0415

    try:
        escalate(name, STOP_ESCALATION)
    except EnvctlError as exc:
        _say(f"collector: could not stop {name}: {exc}")


class _Log:
    """The capped log as the capture sees it: a write error (a full disk) is kept, not raised,
    so the run still ends and the record says the log is incomplete."""

    def __init__(self, run_dir: Path, cap: int) -> None:
        self.run_dir = run_dir
        self.log = CappedLog(run_dir, cap, OUTPUT_LOG)
        self.error: str | None = None
        self.total = 0
        self.cut = 0
        self.next_check = 0

    def write(self, data: bytes) -> None:
        self.total += len(data)
        if self.error is not None:
            return
        if self.total >= self.next_check:
            self.next_check = self.total + DISK_CHECK_EVERY
            if _free_bytes(self.run_dir) < DISK_RESERVE:
                # Stop while the record, the results and the cut marker still fit: a log that
                # fills the disk would take the run's result down with it.
                self.error = (f"the disk holding the log is full (less than {DISK_RESERVE >> 20} MiB "
                              f"free after {self.log.total} bytes); the rest of the output is not kept")
                return
        try:
            self.log.write(data)
        except OSError as exc:
            self.error = f"writing the log failed after {self.log.total} bytes: {exc.strerror or exc}"

    def close(self) -> None:
        try:
            self.cut = self.log.close()
        except OSError as exc:
            self.error = self.error or f"finishing the log failed: {exc.strerror or exc}"
        self.cut = max(self.cut, self.total - self.log.total)


def _nothing_written_yet(run_dir: Path, record: RunRecord, state: ContainerState) -> bool:
    """Whether the tests are still held at the runner's gate, so an attach sees every byte: the
    gate is mounted, nobody has opened it, and the runner has not given up waiting for it."""
    from envctl.pytest_plugin.envctl_runner import GATE_WAIT  # noqa: PLC0415

    if not record.injected or exchange.gate_open(run_dir):
        return False
    return state.started_at is not None and time.time() - state.started_at < GATE_WAIT - GATE_MARGIN


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return DISK_RESERVE  # cannot tell: go on writing, and an error will say the rest


def _capture_output(run_dir: Path, record: RunRecord, engine: Engine, container: str,
                    *, follow: bool, pristine: bool, on_capturing: Callable[[], bool]) -> _Log:
    """Write the container's whole output to the capped log: through the attach (byte-exact)
    when it comes before any output, else from the engine's stored log, which has no gap (a
    collector taking over a running container, a run without the gate). ``on_capturing``: called
    once the capture is in place, before the gate opens and the output is read; False keeps the
    gate shut (the run was stopped before its tests began)."""
    if follow and pristine:
        log = _Log(run_dir, record.log_cap)

        def attached() -> None:
            if on_capturing():  # a run stopped before its tests began keeps them held
                _open_gate(run_dir)

        try:
            _code, complete = engine.follow_output(container, log.write, on_attached=attached)
        finally:
            log.close()
        if complete:
            return log
    # Output came before us, it finished before we attached, or the attach hung.
    if on_capturing() and follow and record.injected:
        _open_gate(run_dir)  # a runner still held (its collector died first) need not wait on
    log = _Log(run_dir, record.log_cap)
    try:
        for chunk in engine.output_stream(container, follow=follow and not pristine):
            log.write(chunk)
    finally:
        log.close()
    return log


def _open_gate(run_dir: Path) -> None:
    with contextlib.suppress(OSError):
        exchange.open_gate(run_dir)


def _final_counts(run_dir: Path) -> Counts:
    progress = read_progress(run_dir)
    if progress.source == "plugin":
        return progress.counts
    return counts_from_output(tail_lines(run_dir, 200)) or progress.counts


class DependencyWatch:
    """The environment's other containers while the tests run: which died or were OOM-killed,
    when, and which test was running then (from the engine's event stream)."""

    def __init__(self, project: str, test_container: str, run_dir: Path) -> None:
        self.project = project
        self.test_container = test_container
        self.run_dir = run_dir
        self.events: list[DependencyEvent] = []
        self.killed_with: str | None = None  # the signal the engine sent the test container
        self.stream: Any = None
        self.engine: Engine | None = None
        self.thread: threading.Thread | None = None
        self.since: float | None = None

    def start(self, since: float | None = None) -> None:
        """Watch from ``since`` (the test container's start: the engine replays what came between
        it and now; anything before it is not this run's)."""
        from envctl.docker import labels  # noqa: PLC0415
        from envctl.docker.engine import Engine  # noqa: PLC0415

        self.since = since
        try:
            self.engine = Engine(timeout=None)
            self.stream = self.engine.events(filters={
                "type": ["container"], "event": ["die", "oom", "kill"],
                "label": [f"{labels.COMPOSE_PROJECT}={self.project}"]}, since=since)
        except EnvctlError as exc:
            _say(f"collector: not watching the environment: {exc}")
            return
        self.thread = threading.Thread(target=self._pump, daemon=True, name="envctl-dependencies")
        self.thread.start()

    def _pump(self) -> None:
        from envctl.docker.models import ContainerEvent  # noqa: PLC0415

        try:
            for payload in self.stream:
                event = ContainerEvent.from_event(payload)
                if event is None or (self.since is not None and event.time_nano / 1e9 < self.since):
                    continue  # before the tests' container started (a one-shot that ended, a recreate)
                if event.action == "kill":
                    if event.attributes.get("name") == self.test_container and self.killed_with is None:
                        # Someone signalled the test container through the engine: `docker
                        # stop`, or the daemon stopping. envctl's own stop is a cancel.
                        self.killed_with = event.attributes.get("signal", "?")
                    continue
                if self._is_dependency(event.attributes, event.service):
                    code = event.attributes.get("exitCode")
                    self._add(DependencyEvent(
                        service=event.service, container=event.attributes.get("name", ""),
                        action=event.action, at=event.time_nano / 1e9 or time.time(),
                        exit_code=int(code) if code and code.lstrip("-").isdigit() else None,
                        running_test=self._running_test(event.time_nano / 1e9)))
        except Exception:  # noqa: S110  # the stream ends with an error when it is closed
            pass

    def _is_dependency(self, attributes: dict[str, str], service: str) -> bool:
        from envctl.docker import labels  # noqa: PLC0415

        return bool(service) and attributes.get("name") != self.test_container \
            and attributes.get(labels.COMPOSE_ONEOFF) != "True" \
            and attributes.get(labels.ROLE) != labels.TEST_RUN_ROLE

    def _running_test(self, at: float) -> str | None:
        """The test running now, if the event is from now: one the engine replays from earlier (a
        collector that took over) happened during some other test."""
        if time.time() - at > REPLAYED_AFTER:
            return None
        snapshot = exchange.read_snapshot(self.run_dir)
        return snapshot.current if snapshot is not None else None

    def _add(self, event: DependencyEvent) -> None:
        last = next((e for e in reversed(self.events) if e.container == event.container), None)
        if last is not None and last.action == "oom" and event.action == "die":
            last.exit_code = event.exit_code  # one OOM kill, told once
            return
        self.events.append(event)

    def stop(self) -> list[DependencyEvent]:
        if self.stream is not None:
            with contextlib.suppress(Exception):
                self.stream.close()
        if self.thread is not None:
            self.thread.join(2.0)
        if self.engine is not None:
            self.engine.close()
        return list(self.events)

    def sweep(self, engine: Engine, *, since: float, until: float) -> list[DependencyEvent]:
        """Deaths the stream cannot have seen (a collector that took over after a kill -9):
        dependencies that exited while the tests ran and are not back."""
        from envctl.docker import labels  # noqa: PLC0415

        seen = {e.container for e in self.events}
        found = []
        try:
            states = engine.containers({labels.COMPOSE_PROJECT: self.project})
        except EnvctlError:
            return []
        for state in states:
            if state.name in seen or not state.ended or not since <= (state.finished_at or 0) <= until \
                    or not self._is_dependency({**state.labels, "name": state.name}, state.service):
                continue
            found.append(DependencyEvent(service=state.service, container=state.name,
                                         action="oom" if state.oom_killed else "die",
                                         at=state.finished_at or time.time(), exit_code=state.exit_code))
        return found


def _clean_up(run_dir: Path, record: RunRecord) -> None:
    """Once the record is final: remove the test container (the --rm of `compose run --rm`) and
    an isolated run's project, empty the exchange folder, then say so in the record."""
    if not record.state.terminal or record.cleaned:
        return
    from envctl.docker import labels  # noqa: PLC0415

    if record.container is not None or record.isolated:
        from envctl.docker.engine import Engine  # noqa: PLC0415

        try:
            with Engine(timeout=60) as engine:
                if record.container is not None:
                    engine.remove(record.container)
                    # One a killed starter's `compose run` created after the run was recorded.
                    engine.remove_labelled(f"{labels.RUN}={record.id}", f"{labels.ROLE}=test-run")
                if record.isolated:
                    # Everything of it carries the project and isolated labels, so it goes through
                    # the API by label (~50 ms): a throwaway project needs no graceful stop.
                    engine.remove_labelled(f"{labels.PROJECT}={record.project}", f"{labels.ISOLATED}=true")
        except EnvctlError as exc:
            _say(f"collector {run_dir.name}: could not clean up: {exc}")
            return
    exchange.clear(run_dir)
    lifecycle.mark_cleaned(run_dir)


CLEANUP_WAIT = 60.0  # how long a parent waits for its shards' projects to go


def collect_parent(parent_dir: Path, held_fd: int | None) -> RunRecord | None:
    """A --shards parent: once every shard has ended (collecting any that has no collector),
    merge them and record the parent's end; then, once their projects are gone, say so."""
    from envctl.runs.shards import finalize  # noqa: PLC0415

    with collector_lock(parent_dir, held_fd=held_fd) as mine:
        if not mine:
            return None
        record = RunRecord.load(parent_dir)
        children = [parent_dir.parent / child for child in record.children]
        records = _children_when(children, lambda c: c.state.terminal, deadline=None)
        record = finalize(parent_dir, records)
        records = _children_when(children, lambda c: c.cleaned, deadline=time.monotonic() + CLEANUP_WAIT)
        if record.state.terminal and all(child.cleaned for child in records):
            record = lifecycle.mark_cleaned(parent_dir)
        return record


def _children_when(children: list[Path], done: Callable[[RunRecord], bool],
                   deadline: float | None) -> list[RunRecord]:
    """The shards' records once ``done`` holds for each (or the deadline passes); a shard with
    no collector is collected here meanwhile."""
    while True:
        records = [RunRecord.load(child) for child in children]
        if all(done(child) for child in records) or (deadline is not None and time.monotonic() > deadline):
            return records
        for child_dir, child in zip(children, records, strict=True):
            if not done(child):
                collect(child_dir)  # a no-op while another collector holds it
        time.sleep(PARENT_POLL)


def _say(text: str) -> None:
    """A line for collector.log (which CI uploads): with every known secret cut out."""
    from envctl.log import redact  # noqa: PLC0415

    print(redact(text), file=sys.stderr, flush=True)


def _reporting(run: Callable[[], RunRecord | None], run_dir: Path) -> int:
    """Collect; what went wrong goes to the collector log, prefixed by the run."""
    try:
        record = run()
    except EngineUnavailableError as exc:
        # Leave the run as it is: a later `wait` takes it over once the engine is back.
        _say(f"collector {run_dir.name}: engine lost: {exc}")
        return 1
    except EnvctlError as exc:
        _say(f"collector {run_dir.name}: {exc}")
        return 1
    if record is None:
        _say(f"collector {run_dir.name}: another collector holds this run")
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
        codes.append(_reporting(lambda: collect_parent(parent_dir, parent_fd), parent_dir))
    return max(codes, default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
