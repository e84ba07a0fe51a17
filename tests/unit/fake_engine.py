"""A fake of envctl.docker.engine.Engine for unit tests of pure run logic (no Docker).

Each test sets the class-level script: the states a container goes through, the output and
exit it has, and what the engine does when asked to remove or kill it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

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

    def __init__(self, timeout: float | None = 60.0) -> None:
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
