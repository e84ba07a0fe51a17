"""A fake of envctl.docker.engine.Engine for unit tests of pure run logic (no Docker).

Each test sets the class-level script: the states a container goes through, the output and
exit it has, and what the engine does when asked to remove or kill it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from envctl.docker import labels as label_names
from envctl.docker.models import ContainerState
from envctl.errors import ContainerGoneError


def state(name: str = "c", *, status: str = "running", exit_code: int = 0, started: bool = True,
          oom_killed: bool = False) -> ContainerState:
    return ContainerState(id=name, name=name, service="test", status=status, exit_code=exit_code,
                          oom_killed=oom_killed, health=None, restart_count=0, error="",
                          started=started, finished_at=None,
                          started_at=time.time() if started else None)


class _Stream:
    def __init__(self) -> None:
        self.closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(())

    def close(self) -> None:
        self.closed = True


class FakeEngine:
    """Answers from ``FakeEngine.states`` (a container's inspect results, in order; the last
    repeats; None = gone), ``output`` and ``exit_code``; records removals and signals."""

    states: list[ContainerState | None] = []  # noqa: RUF012  # set per test
    output: bytes = b""
    exit_code: int | None = 0
    removed: list[str] = []  # noqa: RUF012
    killed: list[tuple[str, str]] = []  # noqa: RUF012
    on_follow: Callable[[], None] | None = None
    wait_gone: bool = False  # wait_exit finds the container removed
    attaches: int = 0
    stored_reads: list[bool] = []  # noqa: RUF012  # each read of the stored log: followed or not

    @classmethod
    def reset(cls, states: list[ContainerState | None], *, output: bytes = b"",
              exit_code: int | None = 0) -> None:
        cls.states, cls.output, cls.exit_code = list(states), output, exit_code
        cls.removed, cls.killed, cls.on_follow, cls.wait_gone = [], [], None, False
        cls.attaches, cls.stored_reads = 0, []

    def __init__(self, timeout: float | None = 60.0, *, host: str | None = None) -> None:
        self.host = host
        self.timeout = timeout

    def __enter__(self) -> FakeEngine:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def close(self) -> None:
        pass

    def container_state(self, _container: str) -> ContainerState | None:
        if len(FakeEngine.states) > 1:
            return FakeEngine.states.pop(0)
        return FakeEngine.states[0] if FakeEngine.states else None

    def containers(self, _labels: object, *, all_: bool = True) -> list[ContainerState]:
        return []

    def follow_output(self, _container: str, sink: Callable[[bytes], None], *, grace: float = 2.0,
                      on_attached: Callable[[], None] | None = None) -> tuple[int | None, bool]:
        FakeEngine.attaches += 1
        if on_attached is not None:
            on_attached()
        if FakeEngine.on_follow is not None:
            FakeEngine.on_follow()
        sink(FakeEngine.output)
        return FakeEngine.exit_code, True

    def output_stream(self, _container: str, *, follow: bool, tail: int | None = None) -> Iterator[bytes]:
        FakeEngine.stored_reads.append(follow)
        return iter([FakeEngine.output])

    def wait_exit(self, container: str, timeout: float | None = None) -> int | None:
        if FakeEngine.wait_gone:
            raise ContainerGoneError(f"waiting for {container}: no such container")
        return FakeEngine.exit_code

    def kill(self, container: str, signal: str) -> bool:
        FakeEngine.killed.append((container, signal))
        return False

    def remove(self, container: str) -> None:
        FakeEngine.removed.append(container)

    def remove_labelled(self, *_filters: str) -> dict[str, int]:
        return {"containers": 0, "networks": 0, "volumes": 0}

    def copy_file_out(self, _container: str, _path: str, _dest: Path, *, cap: int = 0) -> bool:
        return False

    def events(self, *, filters: dict[str, Any], since: float | None = None,
               until: float | None = None) -> _Stream:
        return _Stream()


def ended(name: str = "c", exit_code: int = 0, **kwargs: Any) -> ContainerState:
    return replace(state(name, **kwargs), status="exited", exit_code=exit_code)


class FakeClock:
    """A monotonic clock that moves only when slept on, so a deadline passes without a wait;
    ``on_sleep`` (if set) is called with the new time after each sleep."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[float], None] | None = None

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(self.now)


class _Compose:
    """The project's compose as a run's start uses it: `compose run -d`, recorded."""

    def __init__(self, env: FakeEnvironment) -> None:
        self.env = env

    def run_detached(self, service: str, argv: list[str], *, name: str, deadline: float,
                     cancelled: Callable[[], bool] = lambda: False) -> None:
        self.env.calls.append(("run", service, name))
        self.env.argv = list(argv)
        if self.env.run_error is not None:
            raise self.env.run_error


class _Warnings:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, object]]] = []

    def warning(self, event: str, **fields: object) -> None:
        self.lines.append((event, fields))


class FakeEnvironment:
    """Stands in for envctl.env.environment.Environment (same constructor): a compose project
    whose test service is ``FakeEnvironment.spec``; records the steps of a run's start."""

    spec: Any = None  # a ServiceSpec for the test service; None: the compose files have none
    run_error: Exception | None = None

    def __init__(self, settings: Any, project: str | None = None, isolated_for: str | None = None,
                 engine: str | None = None, engine_name: str | None = None) -> None:
        self.settings = settings
        self.project = project or "p"
        self.isolated_for = isolated_for
        self.engine = engine
        self.engine_name = engine_name
        self.calls: list[tuple[str, ...]] = []
        self.argv: list[str] = []
        self.extra_files: list[Path] = []
        self.log = _Warnings()

    def config(self) -> Any:
        from types import SimpleNamespace  # noqa: PLC0415

        spec = FakeEnvironment.spec
        return SimpleNamespace(services={} if spec is None else {self.settings.test_service: spec})

    @contextlib.contextmanager
    def start_lock(self, *, cancelled: Callable[[], bool]) -> Iterator[None]:
        self.calls.append(("lock",))
        yield

    def ensure_up(self, *, cancelled: Callable[[], bool]) -> None:
        self.calls.append(("up",))

    def build(self, services: list[str], *, cancelled: Callable[[], bool] = lambda: False) -> None:
        self.calls.append(("build", *services))

    def compose(self, *, extra_files: list[Path]) -> _Compose:
        self.extra_files = list(extra_files)
        self.calls.append(("compose",))
        return _Compose(self)


class _Events:
    """An engine event stream that yields what was scripted, then ends."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.events)

    def close(self) -> None:
        self.closed = True


class FakeProjectEngine:
    """A fake engine holding one compose project's containers (per instance, unlike
    FakeEngine): ``change`` scripts one engine event about a container, and the inspect that
    follows it answers the new state; ``containers`` lists the latest states."""

    def __init__(self, *initial: ContainerState) -> None:
        self.current: dict[str, ContainerState] = {s.id: s for s in initial}
        self.pending: dict[str, list[ContainerState]] = {}
        self.scripted: list[dict[str, Any]] = []
        self.logs: dict[str, list[str]] = {}
        self.removed: list[str] = []
        self.removed_labelled: list[tuple[str, ...]] = []
        self.subscriptions: list[dict[str, Any]] = []
        self.streams: list[_Events] = []
        self.timeouts: list[float | None] = []
        self.hosts: list[str | None] = []  # the engine each "new" engine was made for

    def __call__(self, timeout: float | None = 60.0, *, host: str | None = None) -> FakeProjectEngine:
        """Stands in for the Engine class: each "new" engine is this one."""
        self.timeouts.append(timeout)
        self.hosts.append(host)
        return self

    def __enter__(self) -> FakeProjectEngine:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def event(self, container_id: str, service: str, action: str) -> None:
        self.scripted.append({"Type": "container", "Action": action, "Actor": {
            "ID": container_id, "Attributes": {label_names.COMPOSE_SERVICE: service}}})

    def change(self, state: ContainerState, action: str = "start") -> None:
        self.pending.setdefault(state.id, []).append(state)
        self.event(state.id, state.service, action)

    def events(self, *, filters: dict[str, Any], since: float | None = None,
               until: float | None = None) -> _Events:
        self.subscriptions.append(filters)
        self.streams.append(_Events(list(self.scripted)))
        return self.streams[-1]

    def containers(self, _labels: object, *, all_: bool = True) -> list[ContainerState]:
        return list(self.current.values())

    def container_state(self, container_id: str) -> ContainerState | None:
        if self.pending.get(container_id):
            self.current[container_id] = self.pending[container_id].pop(0)
        return self.current.get(container_id)

    def container_logs_tail(self, container_id: str, lines: int = 20) -> list[str]:
        return self.logs.get(container_id, [])[-lines:]

    def remove(self, container_id: str) -> None:
        self.removed.append(container_id)

    def remove_labelled(self, *filters: str) -> dict[str, int]:
        self.removed_labelled.append(filters)
        return {"containers": 0, "networks": 0, "volumes": 0}
