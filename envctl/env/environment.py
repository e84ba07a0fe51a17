"""Environment: bring a compose project up and wait for it, tear it down, show its services.

This is the Python API the CLI is built on::

    env = Environment(load_settings())
    env.up()                      # raises EnvironmentFailedError with every failed service explained
    env.down(volumes=True)

The pieces live beside it, each on values: :mod:`naming` (the names it gives things),
:mod:`compose_config` (the cached configuration, the label override, the dependency closure),
:mod:`readiness` (the event-driven wait), :mod:`diagnosis` (why a start failed, in words) and
:mod:`probes` (the `wait` probes).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.docker import labels
from envctl.docker.compose import Compose, ComposeCommandError, first_error_line
from envctl.docker.models import ComposeProject
from envctl.env import compose_config, naming
from envctl.env.health import Phase, ReadinessWatch, ServiceReport, Verdict, judge
from envctl.env.probes import ProbeResult, may_probe_from_network, probe_service
from envctl.env.project import active_profiles, compose_files, env_files, redact_secrets
from envctl.env.readiness import (
    FAILURE_GRACE,
    Cancelled,
    ProgressCallback,
    ReadinessWait,
    never,
)
from envctl.errors import ComposeFileError, ConfigError, DockerError, EnvironmentFailedError
from envctl.files import private_dir, write_private
from envctl.log import get_logger
from envctl.retry import DOCKER_CALL
from envctl.settings import ServiceWait, Settings

if TYPE_CHECKING:
    from envctl.docker.engine import Engine

BUILD_DEADLINE = 1800.0  # an image build may take long; it still has a deadline

_BUILD_LOCKS: dict[str | None, threading.Lock] = {}  # one per engine
_BUILD_LOCKS_LOCK = threading.Lock()

__all__ = ["BUILD_DEADLINE", "FAILURE_GRACE", "Cancelled", "Environment", "ProgressCallback",
           "ServiceStatus"]


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
                 on_progress: ProgressCallback | None = None, isolated_for: str | None = None,
                 engine: str | None = None, engine_name: str | None = None) -> None:
        self.settings = settings
        # The engine it lives on (a DOCKER_HOST value; None: this process's own). Handed to every
        # Docker call, never put in os.environ: shards of one run live on several engines.
        self.engine = engine
        self.engine_name = engine_name  # as the user named it (a context, or the address)
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
        return cls(settings, project=naming.isolated_name(cls(settings).project, token), isolated_for=token)

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
        return naming.project_name(self.config().name, compose_files(self.settings)[0])

    def config(self) -> ComposeProject:
        """The resolved compose configuration, cached on disk by what it depends on (see
        ``compose_config.cached_config``), and in memory for this Environment's life."""
        if self._config is None:
            base = self._base_compose()
            self._config = compose_config.cached_config(
                [*base.files, *base.env_files], self._state_dir(),
                lambda: DOCKER_CALL.call(base.config_json), docker_host=self.engine)
        return self._config

    def compose(self, extra_files: Iterable[Path] = ()) -> Compose:
        """Compose with the user's files plus envctl's label override (and ``extra_files``)."""
        base = self._base_compose()
        override = self._write_label_override()
        # Every profile: envctl always names the services it starts, so none starts unasked,
        # and `down` or `run` reach a service behind a profile too. Named one by one, not "*":
        # compose 2.20 finds no service behind a profile for `run --profile '*'`.
        every = sorted({p for spec in self.config().services.values() for p in spec.profiles})
        return Compose([*base.files, override, *extra_files], self.project,
                       timeout=self.settings.docker_timeout, env_files=base.env_files, profiles=every,
                       host=self.engine)

    def _state_dir(self) -> Path:
        return private_dir(self.settings.resolved_log_dir / ".compose")

    def _write_label_override(self) -> Path:
        """An override that puts envctl's labels on every service, network and volume
        (written once per Environment)."""
        if self._label_override is not None:
            return self._label_override
        text = compose_config.label_override(
            self.config(), self.tags(),
            isolated=bool(self.isolated_for), image_for=self.image_for)
        self._label_override = write_private(self._state_dir() / f"{self.project}.labels.json", text)
        return self._label_override

    def tags(self) -> dict[str, str]:
        """The labels of everything this project creates: envctl's, the project's; a throwaway
        project's run and the checkout it belongs to. Not on a user's project: two checkouts of
        one project share its containers and networks, and a label that differs between them
        would have compose make them again under the other's running tests."""
        tags = labels.project_labels(self.project, self.isolated_for)
        if self.isolated_for:
            tags[labels.CHECKOUT] = labels.checkout_of(str(self.settings.project_dir))
        return tags

    def image_for(self, service: str) -> str:
        """The image a service runs. A throwaway project builds under the base project's name
        (what `envctl up` builds), so its shards share one image and leave no image behind."""
        project = self.base_project if self.isolated_for else self.project
        return naming.image_name(self.config().services[service].image, project, service)

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
        return compose_config.with_dependencies(config, wanted)

    def build(self, services: list[str], *, force: bool = False, cancelled: Cancelled = never) -> None:
        """Build images that are missing (or all of ``services`` when ``force``); a cancel ends
        the build (CancelRequestedError)."""
        from envctl.docker.engine import missing_images  # noqa: PLC0415

        config = self.config()
        buildable = [s for s in services if config.services[s].build_context is not None]
        # Shards in one collector share their images: one builds on each engine, the others
        # there find them built.
        with _BUILD_LOCKS_LOCK:
            lock = _BUILD_LOCKS.setdefault(self.engine, threading.Lock())
        with lock:
            if not force:
                missing = set(missing_images([self.image_for(s) for s in buildable],
                                             timeout=self.settings.docker_timeout, host=self.engine))
                buildable = [s for s in buildable if self.image_for(s) in missing]
            if not buildable:
                return
            self.log.info("building images", services=buildable, engine=self.engine_name or "default")
            try:
                DOCKER_CALL.call(lambda: self.compose().build(buildable, deadline=BUILD_DEADLINE,
                                                              cancelled=cancelled))
            except ComposeCommandError as exc:
                raise EnvironmentFailedError(
                    f"the image for {', '.join(buildable)} cannot be built: {first_error_line(exc.output)}",
                    hint="run `docker compose build` to see the whole build output") from None

    def up(self, services: Iterable[str] = (), *, timeout: float | None = None,
           build: bool | None = None, keep_on_failure: bool = False,
           cancelled: Cancelled = never) -> list[ServiceReport]:
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
                self.build([*targets, *needs], force=bool(build), cancelled=cancelled)
            compose = self.compose()
            with Engine(timeout=self.settings.docker_timeout, host=self.engine) as engine:
                fresh = not engine.containers({labels.COMPOSE_PROJECT: self.project})
                try:
                    return self._start_and_wait(engine, compose, targets, timeout, cancelled)
                except BaseException:
                    if not keep_on_failure:
                        self._cleanup_failed_start(compose, fresh)
                    raise

    def start_lock(self, cancelled: Cancelled = never) -> contextlib.AbstractContextManager[None]:
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
        from envctl.boundary import state_dir  # noqa: PLC0415

        try:
            folder = private_dir(state_dir() / "locks")
        except (OSError, RuntimeError):  # no home (a system user): the checkout's own lock
            folder = self._state_dir()
        from envctl.docker.cli_config import engine_environment  # noqa: PLC0415

        return folder / naming.start_lock_name(self.project, engine_environment(self.engine))

    def ensure_up(self, services: Iterable[str] = (), *,
                  cancelled: Cancelled = never) -> list[ServiceReport]:
        """Like ``up``, but when every wanted service is already ready, touch nothing.

        This keeps `envctl test` on a running environment fast; run `envctl up` to apply
        compose file changes.
        """
        from envctl.docker import states as containers  # noqa: PLC0415

        targets = self.targets(services)
        if not targets:
            return []
        with self.start_lock(cancelled):  # another envctl may be bringing it up now: wait, then look
            # On the socket, without the SDK: this look is all a warm environment waits for.
            states = containers.labelled({labels.COMPOSE_PROJECT: self.project},
                                         timeout=self.settings.docker_timeout, host=self.engine)
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

    def _probe(self, spec: ServiceWait, container_id: str, deadline: float, stop: threading.Event,
               on_created: Callable[[str], None]) -> ProbeResult:
        """A service's `wait` probe on this project's engine (readiness's ``probe``)."""
        # envctl's labels only: with compose's, `up` would take a probe container for one of the
        # service's containers. `down` removes any left by a process that died while it ran.
        tags = {**self.tags(), labels.ROLE: labels.PROBE_ROLE}
        return probe_service(spec, container_id, deadline=deadline, stop=stop,
                             docker_timeout=self.settings.docker_timeout, where=self.settings.wait_probe,
                             image=lambda: self.image_for(self.settings.test_service), labels=tags,
                             on_created=on_created, host=self.engine)

    def _needs_the_test_image(self, targets: list[str]) -> bool:
        """Whether a port or http wait may be tried from the service's network, which takes
        the test service's image."""
        return may_probe_from_network(self.settings.wait_probe, self.settings.wait, targets,
                                      host=self.engine)

    def _one_shots(self) -> frozenset[str]:
        return compose_config.one_shots(self.config())

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
        images = {name: spec.image for name, spec in self.config().services.items()}
        wait = ReadinessWait(engine, compose, watch, project=self.project, timeout=timeout,
                             probe=self._probe, on_progress=self.on_progress, log=self.log,
                             waits=waits, images=images, cancelled=cancelled)
        return wait.run()

    # -- down / ps ---------------------------------------------------------------------------

    def down(self, *, volumes: bool = False) -> None:
        """Remove this project's containers and networks (and volumes when asked)."""
        from envctl.docker.engine import Engine  # noqa: PLC0415

        compose = self.compose()
        with Engine(timeout=self.settings.docker_timeout, host=self.engine) as engine, \
                contextlib.suppress(DockerError):
            # First: they use the services' networks. A failure here must not keep `down` from running.
            # A disk look of a doctor killed meanwhile goes too.
            for role in (labels.PROBE_ROLE, labels.DISK_ROLE):
                engine.remove_labelled(f"{labels.PROJECT}={self.project}", f"{labels.ROLE}={role}")
        DOCKER_CALL.call(lambda: compose.down(volumes=volumes))

    def ps(self) -> list[ServiceStatus]:
        """Every container of this project, with its phase."""
        from envctl.docker.engine import Engine  # noqa: PLC0415

        with Engine(timeout=self.settings.docker_timeout, host=self.engine) as engine:
            states = engine.containers({labels.COMPOSE_PROJECT: self.project})
        rows = []
        for state in sorted(states, key=lambda s: (s.service, s.name)):
            verdict = judge(state)
            rows.append(ServiceStatus(state.service, state.name, state.status, state.health,
                                      state.exit_code, verdict.phase, verdict.detail))
        return rows
