"""The readiness wait, driven with a fake engine, a fake compose and a fake clock: no Docker, no
threads (background tasks run at once), no real time."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import IO, Any

import pytest

from envctl.docker import labels
from envctl.docker.compose import TIMEOUT_EXIT
from envctl.docker.models import ContainerState, HealthProbe
from envctl.env.health import Phase, ReadinessWatch, ServiceReport, Verdict
from envctl.env.probes import ProbeResult
from envctl.env.readiness import (
    CANCEL_CHECK,
    Inbox,
    ReadinessWait,
    finish,
    in_thread,
    never,
    pump_events,
    stop_process,
)
from envctl.errors import CancelRequestedError, DockerError, EnvironmentFailedError
from envctl.settings import ServiceWait
from tests.unit.fake_engine import FakeClock, FakeProjectEngine

BEGAN = 1_000_000.0  # the engine's clock when the wait begins


def svc(service: str, cid: str = "", **overrides: Any) -> ContainerState:
    """A container of ``service`` (running, no health check unless overridden)."""
    data: dict[str, Any] = {
        "id": cid or f"{service}-1", "name": f"p-{service}-1", "service": service, "status": "running",
        "exit_code": 0, "oom_killed": False, "health": None, "restart_count": 0, "error": "",
        "started": True, "started_at": BEGAN + 1}
    data.update(overrides)
    return ContainerState(**data)


class FakeProcess:
    """compose's process: exits with ``rc`` at once, or (None) runs until terminated."""

    def __init__(self, rc: int | None, *, stubborn: bool = False) -> None:
        self.returncode = rc
        self.stubborn = stubborn  # ignores TERM: only KILL ends it
        self.signals: list[str] = []

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            raise subprocess.TimeoutExpired("compose", timeout or 0.0)
        return self.returncode

    def terminate(self) -> None:
        self.signals.append("TERM")
        if not self.stubborn:
            self.returncode = -15

    def kill(self) -> None:
        self.signals.append("KILL")
        self.returncode = -9


class FakeCompose:
    """`compose up`: each start is the next scripted (exit code, output); the last repeats."""

    def __init__(self, *runs: tuple[int | None, bytes],
                 on_start: Callable[[int], None] = lambda _attempt: None) -> None:
        self.runs = list(runs) or [(0, b"")]
        self.on_start = on_start
        self.started: list[tuple[list[str], float]] = []
        self.procs: list[FakeProcess] = []

    def start_up(self, services: Sequence[str], *, output: IO[bytes], deadline: float) -> FakeProcess:
        rc, text = self.runs.pop(0) if len(self.runs) > 1 else self.runs[0]
        output.write(text)
        self.started.append((list(services), deadline))
        self.procs.append(FakeProcess(rc))
        self.on_start(len(self.procs))
        return self.procs[-1]


class ClockInbox(Inbox):
    """An inbox whose wait for a message moves the fake clock instead of taking time."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def get(self, timeout: float) -> tuple[str, Any] | None:
        message = super().get(0.0)
        if message is None:
            self.clock.sleep(timeout)
        return message


class Log:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, object]]] = []

    def warning(self, event: str, /, **fields: object) -> None:
        self.warnings.append((event, fields))


def at_once(task: Callable[[], None], name: str) -> None:
    """Spawn without a thread; compose's exit is reported only once it has exited."""
    task()


class Harness:
    """One wait's fakes and what they saw."""

    def __init__(self, services: list[str], *, one_shots: frozenset[str] = frozenset(),
                 compose: FakeCompose | None = None, waits: dict[str, ServiceWait] | None = None,
                 probe: Callable[..., ProbeResult] | None = None, cancelled: Callable[[], bool] = never,
                 timeout: float = 30.0, settle: float = 0.0) -> None:
        self.clock = FakeClock(100.0)
        self.engine = FakeProjectEngine()
        self.compose = compose or FakeCompose()
        self.progress: list[tuple[str, Phase, str]] = []
        self.log = Log()
        self.probes: list[tuple[str, str, float]] = []
        self.watch = ReadinessWatch(services, one_shots, clock=self.clock.monotonic, settle=settle,
                                    gates={s: w.describe() for s, w in (waits or {}).items()})
        self.wait = ReadinessWait(
            self.engine, self.compose, self.watch, project="p", timeout=timeout,
            probe=probe or self.no_probe, on_progress=self.on_progress, log=self.log, waits=waits,
            images={"db": "postgres:16"}, cancelled=cancelled, clock=self.clock.monotonic,
            wall_clock=lambda: BEGAN, inbox=ClockInbox(self.clock), spawn=self.spawn)

    def spawn(self, task: Callable[[], None], name: str) -> None:
        if name == "envctl-compose-up" and self.compose.procs[-1].returncode is None:
            return  # still running: its exit is never reported
        task()

    def no_probe(self, *_args: object) -> ProbeResult:
        raise AssertionError("no probe expected")

    def on_progress(self, service: str, verdict: Verdict) -> None:
        self.progress.append((service, verdict.phase, verdict.detail))

    def failure(self) -> EnvironmentFailedError:
        with pytest.raises(EnvironmentFailedError) as caught:
            self.wait.run()
        return caught.value


def test_a_service_that_becomes_healthy_is_ready() -> None:
    """Starting, then healthy: ready, each step reported, compose run once for the targets."""
    h = Harness(["db"])
    h.engine.change(svc("db", health="starting"))
    h.engine.change(svc("db", health="healthy"), "health_status: healthy")
    assert h.wait.run() == [ServiceReport("db", Phase.READY, "healthy")]
    assert h.progress == [("db", Phase.STARTING, "health: starting"), ("db", Phase.READY, "healthy")]
    assert h.compose.started == [(["db"], 31.0)]
    assert h.engine.subscriptions == [{"type": ["container"], "label": [f"{labels.COMPOSE_PROJECT}=p"]}]
    assert h.engine.streams[0].closed is True
    assert h.clock.sleeps == []


def test_what_ran_before_the_subscription_is_seen_by_the_first_inspect() -> None:
    """A container already healthy when the wait begins needs no event."""
    h = Harness(["db"])
    h.engine.current["db-1"] = svc("db", health="healthy")
    assert h.wait.run() == [ServiceReport("db", Phase.READY, "healthy")]


def test_a_one_shot_that_exits_0_is_completed() -> None:
    """A service others wait on to complete: running is not ready, exiting 0 is."""
    h = Harness(["migrate"], one_shots=frozenset({"migrate"}))
    h.engine.change(svc("migrate"))
    h.engine.change(svc("migrate", status="exited", exit_code=0, finished_at=BEGAN + 2), "die")
    assert h.wait.run() == [ServiceReport("migrate", Phase.COMPLETED, "completed (exited 0)")]
    assert h.progress[0] == ("migrate", Phase.STARTING, "running (one-shot, waiting for it to exit 0)")


def test_a_one_shot_that_exits_non_zero_fails_with_its_last_log_line() -> None:
    """Exit 2: failed, explained with its container and log; its cause names the last line."""
    h = Harness(["migrate"], one_shots=frozenset({"migrate"}))
    h.engine.change(svc("migrate", status="exited", exit_code=2, finished_at=BEGAN + 2), "die")
    h.engine.logs["migrate-1"] = ["applying 0001", "relation exists"]
    error = h.failure()
    assert error.message == (
        "the environment did not come up: migrate exited with code 2\n"
        "migrate: exited with code 2 [p-migrate-1]\n"
        "    last 2 log lines:\n    | applying 0001\n    | relation exists")
    assert error.failures == [("migrate", "exited with code 2; last log line: relation exists")]
    assert error.hint == "fix the service named above, or use --keep-on-failure to inspect it"


def test_an_unhealthy_service_fails_with_its_health_check_output() -> None:
    """Unhealthy: failed at once, with the health check's own words."""
    h = Harness(["db"])
    probe = HealthProbe(1, "pg_isready: no response")
    h.engine.change(svc("db", health="unhealthy", health_log=(probe,)), "health_status: unhealthy")
    error = h.failure()
    assert error.message == (
        "the environment did not come up: db unhealthy\n"
        "db: unhealthy [p-db-1]\n    health check exit 1: pg_isready: no response")
    assert error.failures == [("db", "unhealthy; last health check: pg_isready: no response")]


def test_a_restart_loop_fails_once_it_restarted_three_times() -> None:
    """Restarting below the limit is still starting; the third restart fails it."""
    h = Harness(["api"])
    h.engine.change(svc("api", status="restarting", restart_count=1, exit_code=1), "restart")
    h.engine.change(svc("api", status="running", restart_count=3, exit_code=1), "restart")
    error = h.failure()
    assert error.failures == [("api", "restarting in a loop (3 restarts, last exit code 1)")]
    assert h.progress == [("api", Phase.STARTING, "restarting (restart 1, last exit code 1)"),
                          ("api", Phase.FAILED, "restarting in a loop (3 restarts, last exit code 1)")]


def test_a_service_without_a_health_check_is_ready_once_it_settled() -> None:
    """No health check: ready after the settle time (the fake clock's), with one warning."""
    h = Harness(["cache"], settle=1.0)
    h.engine.change(svc("cache"))
    assert h.wait.run() == [ServiceReport("cache", Phase.READY, "running (no health check)")]
    assert h.clock.sleeps == [1.0]
    assert h.log.warnings == [("service has no health check; ready as soon as it runs", {"service": "cache"})]


class LateInbox(ClockInbox):
    """The first message ``is_late`` picks comes just after the wait for it timed out (as a
    settle time passes); ``on_late`` runs as it comes."""

    def __init__(self, clock: FakeClock, is_late: Callable[[tuple[str, Any], float], bool],
                 on_late: Callable[[], object] = lambda: None) -> None:
        super().__init__(clock)
        self.is_late = is_late
        self.on_late = on_late
        self.late = True

    def get(self, timeout: float) -> tuple[str, Any] | None:
        message = Inbox.get(self, 0.0)
        if message is None:
            self.clock.sleep(timeout)
        elif self.late and self.is_late(message, timeout):
            self.on_late()
            self.clock.sleep(timeout + 0.01)
            self.late = False
        return message


def test_a_settle_time_that_passes_as_an_event_comes_is_not_missed() -> None:
    """A service settling while another's event arrives past its settle time: ready then, not
    at the deadline (no timer was left to wake the wait)."""
    h = Harness(["db", "cache"], settle=1.0, compose=FakeCompose((None, b"")))  # its exit comes later
    h.wait.inbox = LateInbox(h.clock, lambda _message, timeout: timeout < 5.0)  # a settle timer's wait
    h.engine.change(svc("cache"))
    h.engine.change(svc("db", health="starting"))
    h.engine.change(svc("db", health="healthy"), "health_status: healthy")
    assert [r.phase for r in h.wait.run()] == [Phase.READY, Phase.READY]
    assert h.clock.sleeps == [1.01]


def test_a_removal_past_a_settle_time_still_fails_at_once() -> None:
    """The recheck a late message brings never turns "removed while starting" back into a wait."""
    h = Harness(["db", "cache"], settle=1.0)
    h.wait.inbox = LateInbox(
        h.clock, lambda message, _timeout: message[0] == "event" and message[1].get("Action") == "destroy",
        on_late=lambda: h.engine.current.pop("db-1", None))
    h.engine.change(svc("cache"))
    h.engine.change(svc("db", health="starting"))
    h.engine.event("db-1", "db", "destroy")
    assert h.failure().failures == [("db", "its container was removed while starting")]
    assert h.clock.sleeps == [1.01]


def test_compose_exiting_non_zero_is_its_own_failure() -> None:
    """compose's error (a taken port) is the message, with what to do about it."""
    output = b"Error response from daemon: Bind for 0.0.0.0:5432 failed: port is already allocated\n"
    h = Harness(["db"], compose=FakeCompose((1, output)))
    error = h.failure()
    assert error.message == ("a host port is already in use: "
                             "Bind for 0.0.0.0:5432 failed: port is already allocated")
    assert error.hint == "stop what listens on that port, or change the published port in the compose file"


def test_a_failed_pull_names_the_image() -> None:
    """The images given to the wait name what could not be pulled."""
    output = b" db Pulling \n db Error manifest unknown\nError response from daemon: manifest unknown\n"
    error = Harness(["db"], compose=FakeCompose((18, output))).failure()
    assert error.message == "the image of db (postgres:16) cannot be pulled: manifest unknown"


def test_a_transient_compose_failure_is_retried() -> None:
    """A reset connection: compose runs again, and the wait goes on."""
    def second_start_brings_it_up(attempt: int) -> None:
        if attempt == 2:
            h.engine.current["db-1"] = svc("db", health="healthy")

    compose = FakeCompose((1, b"Error: connection reset by peer\n"), (0, b""),
                          on_start=second_start_brings_it_up)
    h = Harness(["db"], compose=compose)
    assert h.wait.run() == [ServiceReport("db", Phase.READY, "healthy")]
    assert len(h.compose.started) == 2
    assert h.log.warnings == [("compose up failed transiently; retrying",
                               {"error": "Error: connection reset by peer", "attempt": 1})]


def test_the_deadline_fails_what_is_not_ready_yet() -> None:
    """Still starting at the deadline: not ready after the timeout, with its last verdict."""
    h = Harness(["db"], timeout=30.0)
    h.engine.change(svc("db", health="starting"))
    error = h.failure()
    assert error.failures == [("db", "not ready after 30s (health: starting)")]
    assert h.clock.sleeps == [30.0]


def test_compose_killed_at_its_deadline_ends_the_wait() -> None:
    """timeout(1)'s exit code: waiting longer is pointless, so it fails at once."""
    h = Harness(["db"], compose=FakeCompose((TIMEOUT_EXIT, b"")))
    error = h.failure()
    assert error.failures == [("db", "not ready after 30s (not created yet)")]
    assert h.clock.sleeps == []


def test_a_cancelled_start_stops_compose() -> None:
    """Cancelled while compose still runs: CancelRequestedError, compose terminated, the
    subscription closed; the cancel flag is looked at every CANCEL_CHECK seconds."""
    looks: list[float] = []
    clock_holder: list[FakeClock] = []

    def cancelled() -> bool:
        looks.append(clock_holder[0].now)
        return len(looks) > 2

    h = Harness(["db"], compose=FakeCompose((None, b"")), cancelled=cancelled)
    clock_holder.append(h.clock)
    with pytest.raises(CancelRequestedError, match="cancelled while its environment started"):
        h.wait.run()
    assert h.clock.sleeps == pytest.approx([CANCEL_CHECK, CANCEL_CHECK])
    assert h.compose.procs[0].signals == ["TERM"]
    assert h.engine.streams[0].closed is True


def test_a_container_compose_recreates_is_not_a_failure() -> None:
    """An old container stopped (143) while compose still works is being replaced; its
    successor decides."""
    h = Harness(["db"], compose=FakeCompose((None, b"")))
    h.engine.change(svc("db", "old", status="exited", exit_code=143, started_at=BEGAN - 60,
                        finished_at=BEGAN + 1), "die")
    h.engine.change(svc("db", "new", health="healthy"))
    assert h.wait.run() == [ServiceReport("db", Phase.READY, "healthy")]
    assert h.progress == [("db", Phase.READY, "healthy")]


def test_a_container_removed_after_compose_is_done_fails_its_service() -> None:
    """Destroyed once compose has exited: nothing will bring it back."""
    h = Harness(["db"])
    h.engine.event("x-1", "other", "start")  # not a wanted service: ignored
    h.engine.change(svc("db", health="starting"))
    h.engine.event("db-1", "db", "destroy")
    error = h.failure()
    assert error.failures == [("db", "its container was removed while starting")]


def test_a_gated_service_is_ready_once_its_probe_passes() -> None:
    """A `wait` probe runs once per container, with the wait's deadline; its probe containers
    are removed when the wait ends."""
    calls: list[tuple[str, str, float]] = []

    def probe(spec: ServiceWait, cid: str, deadline: float, stop: threading.Event,
              on_created: Callable[[str], None]) -> ProbeResult:
        calls.append((spec.service, cid, deadline))
        on_created("probe-1")
        return ProbeResult(spec.service, cid, True, "port 80 answered")

    h = Harness(["api"], waits={"api": ServiceWait("api", port=80, timeout=10.0)}, probe=probe)
    h.engine.change(svc("api"))
    assert h.wait.run() == [ServiceReport("api", Phase.READY, "ready (port 80)")]
    assert calls == [("api", "api-1", 110.0)]
    assert h.engine.removed == ["probe-1"]
    assert h.log.warnings == []


@pytest.mark.parametrize(("error", "detail"), [
    (DockerError("the engine went away"), "port 80: the engine went away"),
    (ValueError("bad port"), "port 80: ValueError: bad port")])
def test_a_probe_that_raises_fails_its_service_saying_why(error: Exception, detail: str) -> None:
    """A probe's error becomes its service's failure, not a lost thread and a timeout."""
    def probe(*_args: object) -> ProbeResult:
        raise error

    h = Harness(["api"], waits={"api": ServiceWait("api", port=80)}, probe=probe)
    h.engine.change(svc("api"))
    assert h.failure().failures == [("api", detail)]


def test_a_probe_created_after_the_wait_ended_is_refused() -> None:
    """A probe container created once the wait is over is told to go (its own cleanup)."""
    h = Harness(["api"])
    h.wait.stop_probes.set()
    with pytest.raises(CancelRequestedError):
        h.wait._probe_created("late")
    assert h.wait.probe_containers == {"late"}


def test_finish_and_stop_end_a_process_that_lingers() -> None:
    """compose still printing after every service is ready gets a TERM, then a KILL."""
    lingering = FakeProcess(None, stubborn=True)
    finish(lingering)
    assert (lingering.signals, lingering.returncode) == (["TERM", "KILL"], -9)
    quitting = FakeProcess(None)
    stop_process(quitting)
    assert (quitting.signals, quitting.returncode) == (["TERM"], -15)
    finish(None)


def test_the_inbox_and_the_pumps() -> None:
    """Events reach the inbox in order; a stream that breaks when closed just ends; the
    default spawn runs the task in a thread."""
    inbox = Inbox()

    def broken() -> Any:
        yield {"n": 1}
        raise OSError("closed")

    pump_events(broken(), inbox)
    assert (inbox.get(0.0), inbox.get(0.0)) == (("event", {"n": 1}), None)
    done = threading.Event()
    in_thread(done.set, "envctl-test")
    assert done.wait(timeout=10)
