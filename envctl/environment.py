"""Environment: bring a compose project up and wait for it, tear it down, show its services.

This is the Python API the CLI is built on::

    env = Environment(load_settings())
    env.up()                      # raises EnvironmentFailedError with every failed service explained
    env.down(volumes=True)

The wait is driven by the engine's event stream: envctl subscribes to the project's container
events *before* ``compose up`` starts anything, inspects once to catch what happened before the
subscription, and then re-inspects a container only when an event about it arrives. Nothing
sleeps on a fixed interval; the deadline is the only timer.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envctl.docker import labels
from envctl.docker.compose import TIMEOUT_EXIT, Compose, ComposeCommandError, first_error_line
from envctl.docker.models import ComposeProject, ContainerEvent, ContainerState
from envctl.errors import ComposeFileError, DockerError, EnvironmentFailedError
from envctl.health import Phase, ReadinessWatch, ServiceReport, Verdict, explain_failures
from envctl.log import get_logger
from envctl.project import compose_files
from envctl.retry import COMPOSE_UP, DOCKER_CALL, TRANSIENT_PATTERNS
from envctl.settings import Settings

if TYPE_CHECKING:
    from envctl.docker.engine import Engine

LOG_TAIL_LINES = 20
BUILD_DEADLINE = 1800.0  # an image build may take long; it still has a deadline
FAILURE_GRACE = 5.0  # `up` returns within timeout + this, cleanup included

ProgressCallback = Callable[[str, Verdict], None]


@dataclass(frozen=True)
class ServiceStatus:
    """One service as `envctl ps` shows it."""

    service: str
    container: str
    status: str
    health: str | None
    exit_code: int
    phase: Phase
    detail: str


def _log_progress(service: str, verdict: Verdict) -> None:
    logger = get_logger("envctl.up")
    method = logger.warning if verdict.phase is Phase.FAILED else logger.info
    method("service", service=service, phase=verdict.phase.value, detail=verdict.detail)


class Environment:
    """One compose project, as configured by ``settings``."""

    def __init__(self, settings: Settings, *, project: str | None = None,
                 on_progress: ProgressCallback | None = None) -> None:
        self.settings = settings
        self.project = project or settings.resolved_project_name
        self.on_progress = on_progress or _log_progress
        self.log = get_logger("envctl.environment").bind(project=self.project)
        self._config: ComposeProject | None = None
        self._raw_config: dict[str, Any] | None = None

    # -- compose -----------------------------------------------------------------------------

    def _base_compose(self) -> Compose:
        return Compose(compose_files(self.settings), self.project,
                       timeout=self.settings.docker_timeout)

    def config(self) -> ComposeProject:
        if self._config is None:
            self._config = DOCKER_CALL.call(self._base_compose().config)
        return self._config

    def compose(self) -> Compose:
        """Compose with the user's files plus envctl's label override."""
        base = self._base_compose()
        override = self._write_label_override()
        return Compose([*base.files, override], self.project,
                       timeout=self.settings.docker_timeout)

    def _state_dir(self) -> Path:
        path = self.settings.resolved_log_dir / ".compose"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def _write_label_override(self) -> Path:
        """An override that puts envctl's labels on every service, network and volume."""
        config = self.config()
        tags = labels.project_labels(self.project)
        override: dict[str, Any] = {"services": {s: {"labels": tags} for s in config.services}}
        networks = {n: {"labels": tags} for n, spec in config.networks.items() if not spec.external}
        volumes = {v: {"labels": tags} for v, spec in config.volumes.items() if not spec.external}
        if networks:
            override["networks"] = networks
        if volumes:
            override["volumes"] = volumes
        return write_private(self._state_dir() / f"{self.project}.labels.json", json.dumps(override))

    # -- up ----------------------------------------------------------------------------------

    def targets(self, services: Iterable[str] = ()) -> list[str]:
        """The services to wait for: the given ones (default: all but the test service) and
        everything they depend on."""
        config = self.config()
        wanted = list(services) or [s for s in config.services if s != self.settings.test_service]
        unknown = [s for s in wanted if s not in config.services]
        if unknown:
            raise ComposeFileError(
                f"no such service: {', '.join(unknown)}",
                hint=f"services in the compose files: {', '.join(sorted(config.services))}")
        closure: list[str] = []
        stack = list(wanted)
        while stack:
            name = stack.pop()
            if name in closure:
                continue
            closure.append(name)
            stack += list(config.services[name].depends_on)
        return sorted(closure, key=list(config.services).index)

    def build(self, services: list[str], *, force: bool = False) -> None:
        """Build images that are missing (or all of ``services`` when ``force``)."""
        from envctl.docker.engine import Engine  # noqa: PLC0415

        config = self.config()
        buildable = [s for s in services if config.services[s].build_context is not None]
        if not force:
            with Engine(timeout=self.settings.docker_timeout) as engine:
                buildable = [s for s in buildable if not engine.image_exists(
                    config.services[s].image or f"{self.project}-{s}")]
        if not buildable:
            return
        self.log.info("building images", services=buildable)
        try:
            DOCKER_CALL.call(lambda: self.compose().build(buildable, deadline=BUILD_DEADLINE))
        except ComposeCommandError as exc:
            raise EnvironmentFailedError(
                f"the image for {', '.join(buildable)} cannot be built: {first_error_line(exc.output)}",
                hint="run `docker compose build` to see the whole build output") from None

    def up(self, services: Iterable[str] = (), *, timeout: float | None = None,
           build: bool | None = None, keep_on_failure: bool = False) -> list[ServiceReport]:
        """Start ``services`` and wait until each is ready; explain every failure.

        ``build``: None builds missing images, True rebuilds, False never builds.
        """
        from envctl.docker.engine import Engine  # noqa: PLC0415

        timeout = self.settings.health_timeout if timeout is None else timeout
        targets = self.targets(services)
        if build is not False:
            self.build(targets, force=bool(build))
        compose = self.compose()
        with Engine(timeout=self.settings.docker_timeout) as engine:
            fresh = not engine.containers({labels.COMPOSE_PROJECT: self.project})
            try:
                return self._start_and_wait(engine, compose, targets, timeout)
            except BaseException:
                if not keep_on_failure:
                    self._cleanup_failed_start(compose, fresh)
                raise

    def _cleanup_failed_start(self, compose: Compose, fresh: bool) -> None:
        self.log.info("removing the half-started environment", volumes=fresh)
        try:
            compose.down(volumes=fresh, deadline=30)
        except DockerError as exc:
            self.log.warning("cleanup after a failed start failed", error=str(exc))

    def _start_and_wait(self, engine: Engine, compose: Compose, targets: list[str],
                        timeout: float) -> list[ServiceReport]:
        deadline = time.monotonic() + timeout
        config = self.config()
        one_shots = frozenset(dep for spec in config.services.values()
                              for dep, condition in spec.depends_on.items()
                              if condition == "service_completed_successfully")
        watch = ReadinessWatch(targets, one_shots)
        inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        stream = engine.events(filters={"type": ["container"],
                                        "label": [f"{labels.COMPOSE_PROJECT}={self.project}"]})
        threading.Thread(target=_pump_events, args=(stream, inbox), daemon=True,
                         name="envctl-events").start()
        output = tempfile.TemporaryFile()
        proc: subprocess.Popen[bytes] | None = None
        attempts = 0
        warned_no_health: set[str] = set()

        def apply(state: ContainerState) -> None:
            changed = watch.update(state)
            if changed is None:
                return
            service, verdict = changed
            self.on_progress(service, verdict)
            if verdict.detail == "running (no health check)" and service not in warned_no_health:
                warned_no_health.add(service)
                self.log.warning("service has no health check; ready as soon as it runs",
                                 service=service)

        def inspect_all() -> None:
            for state in engine.containers({labels.COMPOSE_PROJECT: self.project}):
                apply(state)

        def start_compose() -> subprocess.Popen[bytes]:
            nonlocal attempts
            attempts += 1
            output.seek(0)
            output.truncate()
            remaining = max(1.0, deadline - time.monotonic())
            started = compose.start_up(targets, output=output, deadline=remaining + 1)
            threading.Thread(target=_pump_exit, args=(started, inbox), daemon=True,
                             name="envctl-compose-up").start()
            return started

        try:
            proc = start_compose()
            inspect_all()
            while not watch.failed and not watch.all_done:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    kind, payload = inbox.get(timeout=remaining)
                except queue.Empty:
                    continue
                if kind == "event":
                    self._on_event(engine, watch, payload, apply)
                elif kind == "exit" and payload is proc:
                    rc = proc.returncode
                    inspect_all()
                    if rc == 0 or watch.failed:
                        continue
                    text = _read_all(output)
                    transient = bool(TRANSIENT_PATTERNS.search(text)) and rc != TIMEOUT_EXIT
                    if transient and attempts < COMPOSE_UP.attempts and deadline - time.monotonic() > 2:
                        self.log.warning("compose up failed transiently; retrying",
                                         error=first_error_line(text), attempt=attempts)
                        proc = start_compose()
                        continue
                    if rc == TIMEOUT_EXIT:
                        break
                    raise EnvironmentFailedError(_compose_failure(text, targets),
                                                 hint=_compose_hint(text))
            if watch.all_done and not watch.failed:
                self._finish_compose(proc)
                return [ServiceReport(s, v.phase, v.detail) for s, v in watch.verdicts.items()]
            reports = self._failure_reports(engine, watch, timeout)
            raise EnvironmentFailedError(
                f"the environment did not come up: {_failure_summary(reports)}\n"
                f"{explain_failures(reports)}",
                hint="fix the service named above, or use --keep-on-failure to inspect it")
        finally:
            stream.close()
            if proc is not None and proc.poll() is None:
                _stop_process(proc)
            output.close()

    @staticmethod
    def _on_event(engine: Engine, watch: ReadinessWatch, payload: dict[str, Any],
                  apply: Callable[[ContainerState], None]) -> None:
        event = ContainerEvent.from_event(payload)
        if event is None or event.service not in watch.states:
            return
        if event.action == "destroy":
            watch.forget(event.service, event.container_id)
            return
        state = engine.container_state(event.container_id)
        if state is not None:
            apply(state)

    @staticmethod
    def _finish_compose(proc: subprocess.Popen[bytes] | None) -> None:
        # Every service is ready, so compose is at most printing its last lines.
        if proc is not None:
            try:
                proc.wait(timeout=FAILURE_GRACE)
            except subprocess.TimeoutExpired:
                _stop_process(proc)

    def _failure_reports(self, engine: Engine, watch: ReadinessWatch,
                         timeout: float) -> list[ServiceReport]:
        failed = watch.failed
        reports: list[ServiceReport] = []
        names = failed or watch.not_done()
        for service in names:
            verdict = watch.verdicts[service]
            state = watch.container_of(service)
            detail = verdict.detail if failed else f"not ready after {timeout:.0f}s ({verdict.detail})"
            report = ServiceReport(service, Phase.FAILED, detail)
            if state is not None:
                fresh = engine.container_state(state.id) or state
                report.container = fresh.name
                report.health_log = fresh.health_log
                report.log_tail = engine.container_logs_tail(fresh.id, LOG_TAIL_LINES)
            reports.append(report)
        return reports

    # -- down / ps ---------------------------------------------------------------------------

    def down(self, *, volumes: bool = False) -> None:
        """Remove this project's containers and networks (and volumes when asked)."""
        compose = self.compose()
        DOCKER_CALL.call(lambda: compose.down(volumes=volumes))

    def ps(self) -> list[ServiceStatus]:
        """Every container of this project, with its phase."""
        from envctl.docker.engine import Engine  # noqa: PLC0415
        from envctl.health import judge  # noqa: PLC0415

        with Engine(timeout=self.settings.docker_timeout) as engine:
            states = engine.containers({labels.COMPOSE_PROJECT: self.project})
        rows = []
        for state in sorted(states, key=lambda s: (s.service, s.name)):
            verdict = judge(state)
            rows.append(ServiceStatus(state.service, state.name, state.status, state.health,
                                      state.exit_code, verdict.phase, verdict.detail))
        return rows


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file + rename), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _pump_events(stream: Any, inbox: queue.Queue[tuple[str, Any]]) -> None:
    try:
        for event in stream:
            inbox.put(("event", event))
    except Exception:  # noqa: BLE001, S110  # the stream ends with an error when closed
        pass


def _pump_exit(proc: subprocess.Popen[bytes], inbox: queue.Queue[tuple[str, Any]]) -> None:
    proc.wait()
    inbox.put(("exit", proc))


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=2)


def _read_all(handle: Any) -> str:
    handle.seek(0)
    return str(handle.read().decode("utf-8", errors="replace"))


def _compose_failure(output: str, targets: list[str]) -> str:
    line = first_error_line(output)
    lowered = line.lower()
    if "port is already allocated" in lowered or "address already in use" in lowered:
        return f"a host port is already in use: {line}"
    if "no such service" in lowered:
        return f"unknown service: {line}"
    if "pull access denied" in lowered or "not found" in lowered and "image" in lowered:
        return f"an image cannot be found: {line}"
    return f"docker compose up failed for {', '.join(targets)}: {line}"


def _compose_hint(output: str) -> str:
    lowered = output.lower()
    if "port is already allocated" in lowered or "address already in use" in lowered:
        return "stop what listens on that port, or change the published port in the compose file"
    return "see the message above; `docker compose up` shows the same error"


def _failure_summary(reports: list[ServiceReport]) -> str:
    return "; ".join(f"{r.service} {r.detail}" for r in reports)
