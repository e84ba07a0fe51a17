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

import contextlib
import hashlib
import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envctl.docker import labels
from envctl.docker.compose import TIMEOUT_EXIT, Compose, ComposeCommandError, first_error_line
from envctl.docker.models import ComposeProject, ContainerEvent, ContainerState, reduce_config
from envctl.env.health import (
    NO_HEALTHCHECK,
    Phase,
    ReadinessWatch,
    ServiceReport,
    Verdict,
    explain_failures,
)
from envctl.env.project import active_profiles, compose_files, env_files, redact_secrets
from envctl.errors import (
    CancelRequestedError,
    ComposeFileError,
    ConfigError,
    DockerError,
    EnvctlError,
    EnvironmentFailedError,
)
from envctl.files import private_dir, write_private
from envctl.log import get_logger, redact
from envctl.retry import COMPOSE_UP, DOCKER_CALL, TRANSIENT_PATTERNS
from envctl.settings import ServiceWait, Settings, normalize_project_name

if TYPE_CHECKING:
    from envctl.docker.engine import Engine

LOG_TAIL_LINES = 20
_RESET_LIST = "__envctl_reset_list__"
BUILD_DEADLINE = 1800.0  # an image build may take long; it still has a deadline
FAILURE_GRACE = 5.0  # `up` returns within timeout + this, cleanup included

_BUILD_LOCK = threading.Lock()

ProgressCallback = Callable[[str, Verdict], None]
Cancelled = Callable[[], bool]  # whether a stop was requested: long waits look at it often
CANCEL_CHECK = 0.2  # seconds between looks at ``Cancelled`` while waiting for readiness


def _never() -> bool:
    return False


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
                 on_progress: ProgressCallback | None = None, isolated_for: str | None = None) -> None:
        self.settings = settings
        redact_secrets(settings)  # compose may print `.env` values: the API and MCP too
        self._config: ComposeProject | None = None
        self.project = project or settings.project_name or self.compose_project_name()
        # A throwaway project (--isolated, shards): labelled so `gc` can find it, and with its
        # published host ports removed so any number of them can run side by side.
        self.isolated_for = isolated_for
        self.on_progress = on_progress or _log_progress
        self.log = get_logger("envctl.env.environment").bind(project=self.project)
        self._label_override: Path | None = None

    @classmethod
    def isolated(cls, settings: Settings) -> Environment:
        """A throwaway project of its own, named after the user's (`--isolated`)."""
        import secrets  # noqa: PLC0415

        token = secrets.token_hex(3)
        return cls(settings, project=f"{cls(settings).project}-iso-{token}", isolated_for=token)

    # -- compose -----------------------------------------------------------------------------

    def _base_compose(self) -> Compose:
        """The user's files as compose reads them: no project name of ours (so compose's own
        name comes back), every profile (so a test service behind one is seen)."""
        return Compose(compose_files(self.settings), None, timeout=self.settings.docker_timeout,
                       env_files=env_files(self.settings), profiles=["*"])

    @property
    def base_project(self) -> str:
        """The user's project name (an isolated or shard project is named after it)."""
        return self.settings.project_name or self.compose_project_name()

    def compose_project_name(self) -> str:
        """The project name compose itself gives these files: COMPOSE_PROJECT_NAME (environment
        or `.env`), else their top-level `name:`, else the first file's folder."""
        name = self.config().name
        if name:
            return normalize_project_name(name)
        return normalize_project_name(compose_files(self.settings)[0].parent.resolve().name)

    def config(self) -> ComposeProject:
        """The resolved compose configuration, cached on disk by what it depends on.

        The key covers the compose files' paths and contents, a `.env` beside them, and the
        environment (compose interpolates variables); files pulled in by `include`, `extends`
        or `env_file` are not part of it: `envctl up` re-reads after editing those.
        """
        if self._config is None:
            base = self._base_compose()
            # Not keyed by project: envctl reads only service, network and volume keys, which the
            # project name does not change, so shard and isolated projects share one entry.
            # "reduced-": the entries of earlier versions held the whole configuration, secrets
            # and all; they are never read, and the sweep below removes them.
            cache = self._state_dir() / f"reduced-config-{_config_key([*base.files, *base.env_files])}.json"
            try:
                data = json.loads(cache.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = reduce_config(DOCKER_CALL.call(base.config_json))
                for old in cache.parent.glob("config-*.json"):
                    old.unlink(missing_ok=True)
                for stale in sorted(cache.parent.glob("reduced-config-*.json"),
                                    key=lambda p: p.stat().st_mtime)[:-8]:
                    stale.unlink(missing_ok=True)  # keep the eight newest
                if not _holds_a_secret(data):  # an image or a command may interpolate a secret:
                    write_private(cache, json.dumps(data))  # then it is read again each time
            self._config = ComposeProject.from_config(data)
        return self._config

    def compose(self, extra_files: Iterable[Path] = ()) -> Compose:
        """Compose with the user's files plus envctl's label override (and ``extra_files``)."""
        base = self._base_compose()
        override = self._write_label_override()
        # Every profile: envctl always names the services it starts, so none starts unasked,
        # and `down` or `run` reach a service behind a profile too.
        return Compose([*base.files, override, *extra_files], self.project,
                       timeout=self.settings.docker_timeout, env_files=base.env_files, profiles=["*"])

    def _state_dir(self) -> Path:
        return private_dir(self.settings.resolved_log_dir / ".compose")

    def _write_label_override(self) -> Path:
        """An override that puts envctl's labels on every service, network and volume
        (written once per Environment)."""
        if self._label_override is not None:
            return self._label_override
        config = self.config()
        tags = labels.project_labels(self.project, self.isolated_for)
        services: dict[str, Any] = {}
        for name, spec in config.services.items():
            services[name] = {"labels": tags}
            if self.isolated_for:
                services[name]["ports"] = _RESET_LIST
                if spec.image is None and spec.build_context is not None:
                    services[name]["image"] = self.image_for(name)
        override: dict[str, Any] = {"services": services}
        networks = {n: {"labels": tags} for n, spec in config.networks.items() if not spec.external}
        volumes = {v: {"labels": tags} for v, spec in config.volumes.items() if not spec.external}
        if networks:
            override["networks"] = networks
        if volumes:
            override["volumes"] = volumes
        # `!reset []` (compose >= 2.24) drops the published ports; JSON is YAML, tags included.
        text = json.dumps(override).replace(json.dumps(_RESET_LIST), "!reset []")
        self._label_override = write_private(self._state_dir() / f"{self.project}.labels.json", text)
        return self._label_override

    def image_for(self, service: str) -> str:
        """The image a service runs. A throwaway project builds under the base project's name
        (what `envctl up` builds), so its shards share one image and leave no image behind."""
        spec = self.config().services[service]
        if spec.image:
            return spec.image
        project = self.base_project if self.isolated_for else self.project
        return f"{project}-{service}"

    # -- up ----------------------------------------------------------------------------------

    def targets(self, services: Iterable[str] = ()) -> list[str]:
        """The services to wait for: the given ones (default: all but the test service) and
        everything they depend on."""
        config = self.config()
        active = active_profiles(self.settings)
        wanted = list(services) or [name for name, spec in config.services.items()
                                    if name != self.settings.test_service and spec.active(active)]
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
        from envctl.docker.engine import missing_images  # noqa: PLC0415

        config = self.config()
        buildable = [s for s in services if config.services[s].build_context is not None]
        # Shards in one collector share their images: one builds, the others find them built.
        with _BUILD_LOCK:
            if not force:
                missing = set(missing_images([self.image_for(s) for s in buildable],
                                             timeout=self.settings.docker_timeout))
                buildable = [s for s in buildable if self.image_for(s) in missing]
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
           build: bool | None = None, keep_on_failure: bool = False,
           cancelled: Cancelled = _never) -> list[ServiceReport]:
        """Start ``services`` and wait until each is ready; explain every failure.

        ``build``: None builds missing images, True rebuilds, False never builds. ``cancelled``:
        checked while waiting; when it turns true the start is abandoned (CancelRequestedError)
        and what it started is removed, as after a failure.
        """
        from envctl.docker.engine import Engine  # noqa: PLC0415

        timeout = self.settings.health_timeout if timeout is None else timeout
        targets = self.targets(services)
        unknown = sorted(w.service for w in self.settings.wait if w.service not in self.config().services)
        if unknown:  # a misspelt name would otherwise wait for nothing, silently
            raise ConfigError(f"wait: no service {', '.join(unknown)} in the compose files",
                              hint=f"services: {', '.join(sorted(self.config().services))}")
        if not targets:  # only a test service: nothing to bring up (and `compose up` would run it)
            return []
        with self.start_lock(cancelled=cancelled):
            if build is not False:
                needs = [self.settings.test_service] if self._needs_the_test_image(targets) else []
                self.build([*targets, *needs], force=bool(build))
            compose = self.compose()
            with Engine(timeout=self.settings.docker_timeout) as engine:
                fresh = not engine.containers({labels.COMPOSE_PROJECT: self.project})
                try:
                    return self._start_and_wait(engine, compose, targets, timeout, cancelled)
                except BaseException:
                    if not keep_on_failure:
                        self._cleanup_failed_start(compose, fresh)
                    raise

    def start_lock(self, cancelled: Cancelled = _never) -> contextlib.AbstractContextManager[None]:
        """Held while this project's containers and networks are created (`up`, and a run's
        `compose run`): two compose processes creating one network at once leave two networks
        of that name on engines that allow it, and every later start fails as "ambiguous"."""
        from envctl.locks import file_lock  # noqa: PLC0415

        return file_lock(self.start_lock_path(),
                         timeout=BUILD_DEADLINE + self.settings.health_timeout + FAILURE_GRACE,
                         what=f"starting project {self.project}", cancelled=cancelled)

    def start_lock_path(self) -> Path:
        """One lock per engine and project, whatever the checkout: two checkouts of one project
        (same compose project name) share the engine's containers and networks, so their starts
        must wait for each other. In the user's state dir; in the log dir when there is none."""
        import hashlib  # noqa: PLC0415

        from envctl.boundary import state_dir  # noqa: PLC0415

        engine = os.environ.get("DOCKER_HOST") or f"context:{os.environ.get('DOCKER_CONTEXT') or 'default'}"
        key = hashlib.sha256(f"{engine}\0{self.project}".encode()).hexdigest()[:32]
        try:
            folder = private_dir(state_dir() / "locks")
        except (OSError, RuntimeError):  # no home (a system user): the checkout's own lock
            folder = self._state_dir()
        return folder / f"{key}.start.lock"

    def ensure_up(self, services: Iterable[str] = (), *,
                  cancelled: Cancelled = _never) -> list[ServiceReport]:
        """Like ``up``, but when every wanted service is already ready, touch nothing.

        This keeps `envctl test` on a running environment fast; run `envctl up` to apply
        compose file changes.
        """
        from envctl.docker.engine import Engine  # noqa: PLC0415

        targets = self.targets(services)
        if not targets:
            return []
        with self.start_lock(cancelled):  # another envctl may be bringing it up now: wait, then look
            with Engine(timeout=self.settings.docker_timeout) as engine:
                states = engine.containers({labels.COMPOSE_PROJECT: self.project})
            # settle=0: a container that was already running before this call has settled.
            watch = ReadinessWatch(targets, self._one_shots(), settle=0.0)
            for state in states:
                watch.update(state)
            # A service with a `wait` is ready only once its probe passes, which a look at the
            # containers cannot tell: `up` probes it (at once, when it is ready already).
            gated = sorted({w.service for w in self.settings.wait} & set(targets))
            if watch.all_done and not watch.failed and not gated:
                self.log.debug("environment already up", services=targets)
                return [ServiceReport(s, v.phase, v.detail) for s, v in watch.verdicts.items()]
            return self.up(services, cancelled=cancelled)

    def probe_in_network(self, engine: Engine, container_id: str, *, port: int,
                         path: str | None, seconds: float,
                         on_created: Callable[[str], None] = lambda _id: None) -> tuple[bool, str]:
        """A port or http wait tried from a container of the test service's image (it has
        Python) in ``container_id``'s network namespace: for engines whose containers this
        machine cannot reach, and ports that are not published."""
        from envctl.env import wait_probe  # noqa: PLC0415

        source = Path(wait_probe.__file__).read_text(encoding="utf-8")
        # envctl's labels only: with compose's, `up` would take it for one of the service's
        # containers. `down` removes any left by a process that died while it ran.
        tags = {**labels.project_labels(self.project, self.isolated_for), labels.ROLE: labels.PROBE_ROLE}
        return engine.probe_in_network(self.image_for(self.settings.test_service), container_id,
                                       ["python3", "-c", source, str(port), path or "", f"{seconds:.3f}"],
                                       labels=tags, seconds=seconds, on_created=on_created)

    def _needs_the_test_image(self, targets: list[str]) -> bool:
        """Whether a port or http wait may be tried from the service's network (see
        probe_in_network), which takes the test service's image."""
        if self.settings.wait_probe == "host":
            return False
        if not any(w.port is not None and w.service in targets for w in self.settings.wait):
            return False
        scheme = urllib.parse.urlsplit(os.environ.get("DOCKER_HOST", "")).scheme
        remote = scheme in ("tcp", "ssh", "http", "https")  # not a local (rootless) unix socket
        return self.settings.wait_probe == "network" or remote or not sys.platform.startswith("linux")

    def _one_shots(self) -> frozenset[str]:
        return frozenset(dep for spec in self.config().services.values()
                         for dep, condition in spec.depends_on.items()
                         if condition == "service_completed_successfully")

    def _cleanup_failed_start(self, compose: Compose, fresh: bool) -> None:
        self.log.info("removing the half-started environment", volumes=fresh)
        try:
            compose.down(volumes=fresh, deadline=30)
        except DockerError as exc:
            self.log.warning("cleanup after a failed start failed", error=str(exc))

    def _start_and_wait(self, engine: Engine, compose: Compose, targets: list[str],
                        timeout: float, cancelled: Cancelled) -> list[ServiceReport]:
        waits = {w.service: w for w in self.settings.wait if w.service in targets}
        watch = ReadinessWatch(targets, self._one_shots(),
                               gates={name: w.describe() for name, w in waits.items()})
        wait = _ReadinessWait(self, engine, compose, watch, timeout, cancelled=cancelled, waits=waits)
        return wait.run()

    # -- down / ps ---------------------------------------------------------------------------

    def down(self, *, volumes: bool = False) -> None:
        """Remove this project's containers and networks (and volumes when asked)."""
        from envctl.docker.engine import Engine  # noqa: PLC0415

        compose = self.compose()
        with Engine(timeout=self.settings.docker_timeout) as engine, contextlib.suppress(DockerError):
            # First: they use the services' networks. A failure here must not keep `down` from running.
            engine.remove_labelled(f"{labels.PROJECT}={self.project}", f"{labels.ROLE}={labels.PROBE_ROLE}")
        DOCKER_CALL.call(lambda: compose.down(volumes=volumes))

    def ps(self) -> list[ServiceStatus]:
        """Every container of this project, with its phase."""
        from envctl.docker.engine import Engine  # noqa: PLC0415
        from envctl.env.health import judge  # noqa: PLC0415

        with Engine(timeout=self.settings.docker_timeout) as engine:
            states = engine.containers({labels.COMPOSE_PROJECT: self.project})
        rows = []
        for state in sorted(states, key=lambda s: (s.service, s.name)):
            verdict = judge(state)
            rows.append(ServiceStatus(state.service, state.name, state.status, state.health,
                                      state.exit_code, verdict.phase, verdict.detail))
        return rows




class _ReadinessWait:
    """One `up`: compose started as a process, the project's events followed to a verdict."""

    def __init__(self, env: Environment, engine: Engine, compose: Compose, watch: ReadinessWatch,
                 timeout: float, *, cancelled: Cancelled = _never,
                 waits: dict[str, ServiceWait] | None = None) -> None:
        self.waits = waits or {}
        self.probing: set[str] = set()  # containers whose probe has started
        self.probe_containers: set[str] = set()  # probes in the services' networks, still there
        self.stop_probes = threading.Event()
        self.env = env
        self.engine = engine
        self.compose = compose
        self.watch = watch
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.proc: subprocess.Popen[bytes] | None = None
        self.attempts = 0
        self.warned_no_health: set[str] = set()
        self.cancelled = cancelled
        self.began = time.time()  # the engine's clock: containers' start and end times compare to it

    def run(self) -> list[ServiceReport]:
        watch = self.watch
        # Subscribe before anything starts, so no state change can fall between two reads.
        stream = self.engine.events(filters={
            "type": ["container"], "label": [f"{labels.COMPOSE_PROJECT}={self.env.project}"]})
        threading.Thread(target=_pump_events, args=(stream, self.inbox), daemon=True,
                         name="envctl-events").start()
        with tempfile.TemporaryFile() as output:
            try:
                self.proc = self._start_compose(output)
                self._inspect_all()
                while not watch.failed and not watch.all_done:
                    now = time.monotonic()
                    if now >= self.deadline:
                        break
                    if self.cancelled():
                        raise CancelRequestedError("the run was cancelled while its environment started")
                    # The timers: the deadline, a settling service's settle time, and a look at
                    # whether the run was cancelled.
                    wake = min(self.deadline, watch.next_recheck() or self.deadline)
                    if self.cancelled is not _never:
                        wake = min(wake, now + CANCEL_CHECK)
                    try:
                        kind, payload = self.inbox.get(timeout=max(0.0, wake - now))
                    except queue.Empty:
                        for service, verdict in watch.recheck():
                            self._report(service, verdict)
                        continue
                    if not self._on_message(kind, payload, output):
                        break
                if watch.all_done and not watch.failed:
                    _finish(self.proc)
                    return [ServiceReport(s, v.phase, v.detail) for s, v in watch.verdicts.items()]
                reports = self._failure_reports()
                raise EnvironmentFailedError(
                    f"the environment did not come up: {_failure_summary(reports)}\n"
                    f"{explain_failures(reports)}",
                    hint="fix the service named above, or use --keep-on-failure to inspect it",
                    failures=[(r.service, _cause(r)) for r in reports])
            finally:
                self.stop_probes.set()
                for probe in list(self.probe_containers):  # a probe still trying: the wait is over
                    with contextlib.suppress(EnvctlError):
                        self.engine.remove(probe)
                stream.close()
                if self.proc is not None and self.proc.poll() is None:
                    _stop_process(self.proc)

    def _on_message(self, kind: str, payload: Any, output: Any) -> bool:
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

    def _start_compose(self, output: Any) -> subprocess.Popen[bytes]:
        self.attempts += 1
        output.seek(0)
        output.truncate()
        remaining = max(1.0, self.deadline - time.monotonic())
        proc = self.compose.start_up(self.watch.services, output=output, deadline=remaining + 1)
        threading.Thread(target=_pump_exit, args=(proc, self.inbox), daemon=True,
                         name="envctl-compose-up").start()
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
        """The service's `wait` probe, in a thread of its own; its result comes to the inbox."""
        from envctl.docker.engine import Engine  # noqa: PLC0415
        from envctl.env.probes import ProbeResult, run_probe  # noqa: PLC0415

        deadline = time.monotonic() + spec.timeout if spec.timeout else self.deadline

        def probe() -> None:
            # Engines of its own: the docker SDK's client is not shared across threads.
            with Engine(timeout=self.env.settings.docker_timeout) as inspecting, \
                    Engine(timeout=None) as streaming:
                try:
                    result = run_probe(
                        spec, container_id, deadline=min(deadline, self.deadline), stop=self.stop_probes,
                        endpoints=lambda port: inspecting.endpoints(container_id, port),
                        output=lambda: streaming.output_stream(container_id, follow=True),
                        in_network=lambda port, path, seconds: self.env.probe_in_network(
                            inspecting, container_id, port=port, path=path, seconds=seconds,
                            on_created=self._probe_created),
                        where=self.env.settings.wait_probe)
                except EnvctlError as exc:
                    result = ProbeResult(spec.service, container_id, False,
                                         f"{spec.describe()}: {exc.message}")
                except Exception as exc:  # a thread's error would be lost and the wait run out
                    result = ProbeResult(spec.service, container_id, False,
                                         f"{spec.describe()}: {type(exc).__name__}: {exc}")
            self.inbox.put(("probe", result))

        threading.Thread(target=probe, daemon=True, name=f"envctl-wait-{spec.service}").start()

    def _report(self, service: str, verdict: Verdict) -> None:
        self.env.on_progress(service, verdict)
        if verdict.detail == NO_HEALTHCHECK and service not in self.warned_no_health \
                and service not in self.waits:
            self.warned_no_health.add(service)
            self.env.log.warning("service has no health check; ready as soon as it runs",
                                 service=service)

    def _inspect_all(self) -> None:
        for state in self.engine.containers({labels.COMPOSE_PROJECT: self.env.project}):
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

    def _on_compose_exit(self, output: Any) -> bool:
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
        if transient and self.attempts < COMPOSE_UP.attempts and self.deadline - time.monotonic() > 2:
            self.env.log.warning("compose up failed transiently; retrying",
                                 error=first_error_line(text), attempt=self.attempts)
            self.proc = self._start_compose(output)
            return True
        images = {name: spec.image for name, spec in self.env.config().services.items()}
        raise EnvironmentFailedError(_compose_failure(text, self.watch.services, images),
                                     hint=_compose_hint(text))

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


def _finish(proc: subprocess.Popen[bytes] | None) -> None:
    # Every service is ready, so compose is at most printing its last lines.
    if proc is not None:
        try:
            proc.wait(timeout=FAILURE_GRACE)
        except subprocess.TimeoutExpired:
            _stop_process(proc)


_INTERPOLATED = re.compile(rb"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def _holds_a_secret(data: object) -> bool:
    """Whether any string in ``data`` holds a secret value (each string as it is: JSON's
    escapes would hide a value with quotes, backslashes or non-ASCII letters in it)."""
    if isinstance(data, str):
        return redact(data) != data
    if isinstance(data, dict):
        return any(_holds_a_secret(k) or _holds_a_secret(v) for k, v in data.items())
    if isinstance(data, (list, tuple)):
        return any(_holds_a_secret(item) for item in data)
    return False


def _config_key(files: list[Path]) -> str:
    """What `compose config` depends on: the files, a .env beside them, the variables they
    interpolate, and compose's and Docker's own variables."""
    digest = hashlib.sha256()
    names: set[str] = set()
    for path in files:
        text = path.read_bytes()
        digest.update(str(path).encode() + b"\0" + text)
        names.update(n.decode() for n in _INTERPOLATED.findall(text))
        env_file = path.parent / ".env"
        if env_file.is_file():
            digest.update(env_file.read_bytes())
    for key, value in sorted(os.environ.items()):
        if key in names or key.startswith(("COMPOSE_", "DOCKER_")):
            digest.update(f"{key}={value}\0".encode())
    return digest.hexdigest()[:20]


def _pump_events(stream: Any, inbox: queue.Queue[tuple[str, Any]]) -> None:
    try:
        for event in stream:
            inbox.put(("event", event))
    except Exception:  # noqa: S110  # the stream ends with an error when closed
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


_PULL_FAILED = re.compile(r"^\s*(\S+) Error\b", re.MULTILINE)


def _compose_failure(output: str, targets: list[str], images: dict[str, str | None] | None = None) -> str:
    line = first_error_line(output)
    lowered = line.lower()
    pulled = {m.group(1) for m in re.finditer(r"^\s*(\S+) Pulling\b", output, re.MULTILINE)}
    failed = [m.group(1) for m in _PULL_FAILED.finditer(output) if m.group(1) in pulled]
    if failed:  # compose's own words: " SERVICE Pulling", then " SERVICE Error ..."
        named = ", ".join(f"{service} ({(images or {}).get(service) or 'its image'})" for service in failed)
        return f"the image of {named} cannot be pulled: {line}"
    if "port is already allocated" in lowered or "address already in use" in lowered:
        return f"a host port is already in use: {line}"
    if "no such service" in lowered:
        return f"unknown service: {line}"
    if "pull access denied" in lowered or ("not found" in lowered and "image" in lowered):
        return f"an image cannot be found: {line}"
    return f"docker compose up failed for {', '.join(targets)}: {line}"


def _compose_hint(output: str) -> str:
    lowered = output.lower()
    if "port is already allocated" in lowered or "address already in use" in lowered:
        return "stop what listens on that port, or change the published port in the compose file"
    return "see the message above; `docker compose up` shows the same error"


def _cause(report: ServiceReport) -> str:
    """One service's failure for an annotation: what happened, its last health output or log."""
    cause = report.detail
    if report.health_log:
        cause += f"; last health check: {report.health_log[-1].output[:300]}"
    elif report.log_tail:
        cause += f"; last log line: {report.log_tail[-1][:300]}"
    return cause


def _failure_summary(reports: list[ServiceReport]) -> str:
    return "; ".join(f"{r.service} {r.detail}" for r in reports)
