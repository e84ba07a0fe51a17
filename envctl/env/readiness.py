"""The readiness wait of one `up`: `compose up` started as a process, the project's container
events followed until every wanted service is ready, one has certainly failed, the deadline
passes or the start is cancelled.

envctl subscribes to the project's container events *before* compose starts anything, inspects
once to catch what happened before the subscription, and then re-inspects a container only when
an event about it arrives. Nothing sleeps on a fixed interval: the deadline, a settling service's
settle time and the look at ``cancelled`` are the only timers.

The wait works on values (an engine, a compose project, the ReadinessWatch that judges, the
`wait` probes, callables for running a probe and reporting progress, a clock) and knows nothing
of ``Environment``, which builds it: so unit tests drive it with fakes.
"""

from __future__ import annotations

import contextlib
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any, Protocol

from envctl.docker import labels
from envctl.docker.compose import TIMEOUT_EXIT, first_error_line
from envctl.docker.models import ContainerEvent, ContainerState
from envctl.env.diagnosis import compose_failure, compose_hint, environment_failed
from envctl.env.health import NO_HEALTHCHECK, Phase, ReadinessWatch, ServiceReport, Verdict
from envctl.env.probes import ProbeResult
from envctl.errors import CancelRequestedError, EnvctlError, EnvironmentFailedError
from envctl.retry import COMPOSE_UP, TRANSIENT_PATTERNS
from envctl.settings import ServiceWait

LOG_TAIL_LINES = 20
FAILURE_GRACE = 5.0  # `up` returns within timeout + this, cleanup included
CANCEL_CHECK = 0.2  # seconds between looks at ``Cancelled`` while waiting for readiness
STOP_WAIT = 2.0  # seconds compose gets to end after a TERM, then after a KILL

ProgressCallback = Callable[[str, Verdict], None]
Cancelled = Callable[[], bool]  # whether a stop was requested: long waits look at it often
# A service's `wait` probe: (spec, container id, deadline on the wait's clock, stop, on_created),
# called in a thread of its own; ``on_created`` is told of each probe container it creates.
Probe = Callable[[ServiceWait, str, float, threading.Event, Callable[[str], None]], ProbeResult]
Spawn = Callable[[Callable[[], None], str], None]  # run a task in the background, by name


def never() -> bool:
    """The ``cancelled`` of a start nobody can cancel (no look at it, then)."""
    return False


def in_thread(task: Callable[[], None], name: str) -> None:
    threading.Thread(target=task, daemon=True, name=name).start()


class Process(Protocol):
    """What the wait needs of compose's process (a ``subprocess.Popen``)."""

    @property
    def returncode(self) -> int | None: ...
    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...


class ComposeUp(Protocol):
    """What the wait needs of compose (``envctl.docker.compose.Compose``)."""

    def start_up(self, services: Sequence[str], *, output: IO[bytes], deadline: float) -> Process: ...


class ProjectEngine(Protocol):
    """What the wait needs of the engine (``envctl.docker.engine.Engine``)."""

    def events(self, *, filters: dict[str, Any]) -> Any: ...
    def containers(self, labels: dict[str, str], /) -> list[ContainerState]: ...
    def container_state(self, container_id: str, /) -> ContainerState | None: ...
    def container_logs_tail(self, container_id: str, lines: int, /) -> list[str]: ...
    def remove(self, container_id: str, /) -> None: ...


class Warnings(Protocol):
    """Where the wait logs what the user should know (a structlog logger)."""

    def warning(self, event: str, /, **fields: object) -> None: ...


class Inbox:
    """What the wait waits on: engine events, probe results and compose's exit, put by threads."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()

    def put(self, kind: str, payload: Any) -> None:
        self._queue.put((kind, payload))

    def get(self, timeout: float) -> tuple[str, Any] | None:
        """The next message, or None when none came within ``timeout`` seconds."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None


def pump_events(stream: Any, inbox: Inbox) -> None:
    try:
        for event in stream:
            inbox.put("event", event)
    except Exception:  # noqa: S110  # the stream ends with an error when closed
        pass


def pump_exit(proc: Process, inbox: Inbox) -> None:
    proc.wait()
    inbox.put("exit", proc)


def stop_process(proc: Process) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=STOP_WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_WAIT)


def finish(proc: Process | None) -> None:
    """Every service is ready, so compose is at most printing its last lines: wait for them."""
    if proc is not None:
        try:
            proc.wait(timeout=FAILURE_GRACE)
        except subprocess.TimeoutExpired:
            stop_process(proc)


class ReadinessWait:
    """One `up`: compose started as a process, the project's events followed to a verdict.

    ``waits``: the `wait` probes of the services being started; ``images``: each service's
    image, to name it when a pull fails; ``clock``: the deadline's (monotonic) and ``wall_clock``
    the engine's (containers' start and end times compare to it); ``inbox`` and ``spawn``: how
    messages arrive and background tasks run (tests replace them to run without threads or time).
    """

    def __init__(self, engine: ProjectEngine, compose: ComposeUp, watch: ReadinessWatch, *,
                 project: str, timeout: float, probe: Probe, on_progress: ProgressCallback, log: Warnings,
                 waits: dict[str, ServiceWait] | None = None, images: dict[str, str | None] | None = None,
                 cancelled: Cancelled = never, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, inbox: Inbox | None = None,
                 spawn: Spawn = in_thread) -> None:
        self.engine = engine
        self.compose = compose
        self.watch = watch
        self.project = project
        self.timeout = timeout
        self.probe = probe
        self.on_progress = on_progress
        self.log = log
        self.waits = waits or {}
        self.images = images or {}
        self.cancelled = cancelled
        self.clock = clock
        self.spawn = spawn
        self.inbox = inbox or Inbox()
        self.deadline = clock() + timeout
        self.began = wall_clock()
        self.probing: set[str] = set()  # containers whose probe has started
        self.probe_containers: set[str] = set()  # probes in the services' networks, still there
        self.stop_probes = threading.Event()
        self.proc: Process | None = None
        self.attempts = 0
        self.warned_no_health: set[str] = set()

    def run(self) -> list[ServiceReport]:
        """Every wanted service's report once all are ready; EnvironmentFailedError explaining
        each failed (or, at the deadline, not ready) service; CancelRequestedError."""
        watch = self.watch
        # Subscribe before anything starts, so no state change can fall between two reads.
        stream = self.engine.events(filters={
            "type": ["container"], "label": [f"{labels.COMPOSE_PROJECT}={self.project}"]})
        self.spawn(lambda: pump_events(stream, self.inbox), "envctl-events")
        with tempfile.TemporaryFile() as output:
            try:
                self.proc = self._start_compose(output)
                self._inspect_all()
                while not watch.failed and not watch.all_done:
                    now = self.clock()
                    if now >= self.deadline:
                        break
                    if self.cancelled():
                        raise CancelRequestedError("the run was cancelled while its environment started")
                    # The timers: the deadline, a settling service's settle time, and a look at
                    # whether the run was cancelled.
                    settled = watch.next_recheck()
                    wake = min(self.deadline, settled or self.deadline)
                    if self.cancelled is not never:
                        wake = min(wake, now + CANCEL_CHECK)
                    message = self.inbox.get(max(0.0, wake - now))
                    if message is not None and not self._on_message(*message, output):
                        break
                    # A message that came as a settle time passed takes the timer's place: the
                    # recheck is due all the same, and nothing else would wake this loop for it.
                    # Not once a service failed: a verdict of "removed" is no state to re-judge.
                    due = message is None or (settled is not None and self.clock() >= settled)
                    if due and not watch.failed:
                        for service, verdict in watch.recheck():
                            self._report(service, verdict)
                if watch.all_done and not watch.failed:
                    finish(self.proc)
                    return [ServiceReport(s, v.phase, v.detail) for s, v in watch.verdicts.items()]
                raise environment_failed(self._failure_reports())
            finally:
                self.stop_probes.set()
                for probe in list(self.probe_containers):  # a probe still trying: the wait is over
                    with contextlib.suppress(EnvctlError):
                        self.engine.remove(probe)
                stream.close()
                if self.proc is not None and self.proc.poll() is None:
                    stop_process(self.proc)

    def _on_message(self, kind: str, payload: Any, output: IO[bytes]) -> bool:
        """An engine event, a probe's result or compose's exit; False when waiting is pointless."""
        if kind == "event":
            self._on_event(payload)
        elif kind == "probe":
            changed = self.watch.gate(payload.service, payload.ok, payload.detail, payload.container_id)
            if changed is not None:
                self._report(*changed)
        elif kind == "exit" and payload is self.proc:
            return self._on_compose_exit(output)
        return True

    def _start_compose(self, output: IO[bytes]) -> Process:
        self.attempts += 1
        output.seek(0)
        output.truncate()
        remaining = max(1.0, self.deadline - self.clock())
        proc = self.compose.start_up(self.watch.services, output=output, deadline=remaining + 1)
        self.spawn(lambda: pump_exit(proc, self.inbox), "envctl-compose-up")
        return proc

    def _being_replaced(self, state: ContainerState) -> bool:
        """A container that ran before this `up` and stopped during it, while compose works:
        compose is recreating it (the configuration or envctl's labels changed), so its exit
        (143 from the stop) is no failure. Once compose is done, it is judged like any other."""
        return (self.proc is not None and self.proc.poll() is None and state.status in ("exited", "dead")
                and state.started_at is not None and state.started_at < self.began
                and state.finished_at is not None and state.finished_at >= self.began - 1)

    def _probe_created(self, probe: str) -> None:
        """Called in the probe's thread once its container exists: one the wait no longer wants
        (it ended meanwhile) is removed at once, by the probe's own cleanup."""
        self.probe_containers.add(probe)
        if self.stop_probes.is_set():
            raise CancelRequestedError("the wait ended before its probe started")

    def _apply(self, state: ContainerState) -> None:
        if self._being_replaced(state):
            self.watch.forget(state.service, state.id)
            return
        changed = self.watch.update(state)
        if changed is not None:
            self._report(*changed)
        if state.status == "running" and state.service in self.waits and state.id not in self.probing:
            self.probing.add(state.id)
            self._start_probe(self.waits[state.service], state.id)

    def _start_probe(self, spec: ServiceWait, container_id: str) -> None:
        """The service's `wait` probe, in the background; its result comes to the inbox."""
        deadline = min(self.clock() + spec.timeout if spec.timeout else self.deadline, self.deadline)

        def probe() -> None:
            try:
                result = self.probe(spec, container_id, deadline, self.stop_probes, self._probe_created)
            except EnvctlError as exc:
                result = ProbeResult(spec.service, container_id, False, f"{spec.describe()}: {exc.message}")
            except Exception as exc:  # a thread's error would be lost and the wait run out
                result = ProbeResult(spec.service, container_id, False,
                                     f"{spec.describe()}: {type(exc).__name__}: {exc}")
            self.inbox.put("probe", result)

        self.spawn(probe, f"envctl-wait-{spec.service}")

    def _report(self, service: str, verdict: Verdict) -> None:
        self.on_progress(service, verdict)
        if verdict.detail == NO_HEALTHCHECK and service not in self.warned_no_health \
                and service not in self.waits:
            self.warned_no_health.add(service)
            self.log.warning("service has no health check; ready as soon as it runs", service=service)

    def _inspect_all(self) -> None:
        for state in self.engine.containers({labels.COMPOSE_PROJECT: self.project}):
            self._apply(state)

    def _on_event(self, payload: dict[str, Any]) -> None:
        event = ContainerEvent.from_event(payload)
        if event is None or event.service not in self.watch.states:
            return
        if event.action == "destroy":
            self.watch.forget(event.service, event.container_id)
            if self.proc is not None and self.proc.poll() is not None:
                # compose is done creating containers: nothing will bring this one back.
                changed = self.watch.vanished(event.service)
                if changed is not None:
                    self._report(*changed)
            return
        state = self.engine.container_state(event.container_id)
        if state is not None:
            self._apply(state)

    def _on_compose_exit(self, output: IO[bytes]) -> bool:
        """Handle compose's exit; False when waiting longer is pointless."""
        assert self.proc is not None  # noqa: S101  # set before any exit can be reported
        rc = self.proc.returncode
        self._inspect_all()
        if rc == 0 or self.watch.failed:
            return True
        if rc == TIMEOUT_EXIT:
            return False
        output.seek(0)
        text = output.read().decode("utf-8", errors="replace")
        transient = bool(TRANSIENT_PATTERNS.search(text))
        if transient and self.attempts < COMPOSE_UP.attempts and self.deadline - self.clock() > 2:
            self.log.warning("compose up failed transiently; retrying",
                             error=first_error_line(text), attempt=self.attempts)
            self.proc = self._start_compose(output)
            return True
        raise EnvironmentFailedError(compose_failure(text, self.watch.services, self.images),
                                     hint=compose_hint(text))

    def _failure_reports(self) -> list[ServiceReport]:
        failed = self.watch.failed
        reports: list[ServiceReport] = []
        for service in failed or self.watch.not_done():
            verdict = self.watch.verdicts[service]
            state = self.watch.container_of(service)
            detail = (verdict.detail if failed
                      else f"not ready after {self.timeout:.0f}s ({verdict.detail})")
            report = ServiceReport(service, Phase.FAILED, detail)
            if state is not None:
                fresh = self.engine.container_state(state.id) or state
                report.container = fresh.name
                report.health_log = fresh.health_log
                report.log_tail = self.engine.container_logs_tail(fresh.id, LOG_TAIL_LINES)
            reports.append(report)
        return reports
