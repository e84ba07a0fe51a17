"""The environment under the tests: which of the project's other containers died or were
OOM-killed while the tests ran, when, and which test was running then."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envctl.errors import EnvctlError
from envctl.runs import exchange
from envctl.runs.collector_log import say
from envctl.runs.state import DependencyEvent

if TYPE_CHECKING:
    from envctl.docker.engine import Engine

REPLAYED_AFTER = 2.0  # seconds: an event older than this when read names no running test


class DependencyWatch:
    """The environment's other containers while the tests run: which died or were OOM-killed,
    when, and which test was running then (from the engine's event stream)."""

    def __init__(self, project: str, test_container: str, run_dir: Path, *,
                 host: str | None = None) -> None:
        self.project = project
        self.host = host  # the engine (a DOCKER_HOST value; None: this process's own)
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
        from envctl.docker import labels, timeouts  # noqa: PLC0415
        from envctl.docker.engine import Engine  # noqa: PLC0415

        self.since = since
        try:
            self.engine = Engine(timeout=timeouts.CALL, host=self.host)
            self.stream = self.engine.events(filters={
                "type": ["container"], "event": ["die", "oom", "kill"],
                "label": [f"{labels.COMPOSE_PROJECT}={self.project}"]}, since=since)
        except EnvctlError as exc:
            say(f"collector: not watching the environment: {exc}")
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
