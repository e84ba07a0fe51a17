"""Starting a run: its directory and first record, then its collector, which brings the
environment up and starts the test container (`compose run -d`, no --rm) in the background."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from envctl.errors import CancelRequestedError, ComposeFileError, EnvctlError, UsageError
from envctl.files import write_private
from envctl.runs import exchange, lifecycle
from envctl.runs.container import container_name, log_dir_masks, run_override, test_argv
from envctl.runs.fingerprint import Recorder
from envctl.runs.hook_guard import refuse_a_writable_hook
from envctl.runs.ids import new_run_id
from envctl.runs.remainder import IN_CONTAINER_SELECT, SELECT_FILE, SELECT_VARIABLE
from envctl.runs.rotation import rotate
from envctl.runs.shipped_run import ship_if_blind
from envctl.runs.spawn import spawn_collector
from envctl.runs.state import Limits, RunRecord
from envctl.runs.store import DETACHED_FILE, START_FILE, RunStore
from envctl.settings import Settings

if TYPE_CHECKING:
    from envctl.env.environment import Environment

HOST_SERVICE = "host"  # a `test --host` run's service in its record: the tests run in none
RUN_OVERRIDE = "compose.run.json"
RUN_START_DEADLINE = 120.0


@dataclass(frozen=True)
class RunRequest:
    """What `envctl test` was asked to run."""

    pytest_args: tuple[str, ...] = ()
    timeout: float = 0.0
    memory: int | None = None
    cpus: float | None = None
    pids: int | None = None
    no_up: bool = False
    shard: str | None = None  # "K/N"
    parent: str | None = None  # the --shards run this shard belongs to
    resumes: str | None = None  # the run whose unfinished tests this one runs (input/select.json)
    host: bool = False  # the tests run on this machine against the environment (runs/host_run.py)
    cwd: str | None = None  # with ``host``: the folder they run in (the caller's)


def plugin_mountable(settings: Settings, engine: str | None = None) -> bool:
    """Bind mounts reach the test container only when the engine runs on this machine
    (``engine``: a DOCKER_HOST value; None: this process's own)."""
    if settings.inject_plugin == "off":
        return False
    host = os.environ.get("DOCKER_HOST", "") if engine is None else engine
    return not host or host.startswith("unix://")


def limits_of(settings: Settings, request: RunRequest) -> Limits:
    return Limits(memory=request.memory or settings.memory, cpus=request.cpus or settings.cpus,
                  pids=request.pids or settings.pids)


def prepare_run(env: Environment, request: RunRequest, *,
                setup: Callable[[Path], None] | None = None) -> tuple[Path, RunRecord]:
    """Rotate old runs, check the test service, and create the run's directory and record
    (``setup``: what else goes into the directory first, e.g. a resume's selection and the
    results it copies from the run it resumes: a resume does not rotate, so that run is there)."""
    settings = env.settings
    service = settings.test_service
    command = [*settings.test_command, *request.pytest_args]
    if request.host:  # no test service: the tests run here, as the user, against the services
        service, command = HOST_SERVICE, [*host_command(settings), *request.pytest_args]
    else:
        spec = env.config().services.get(service)
        if spec is None:
            raise ComposeFileError(f"no test service {service!r} in the compose files",
                                   hint="set test_service in envctl.toml")
        refuse_unsafe(service, spec.unsafe, settings.allow)
        refuse_a_writable_hook(settings, service, spec.writable_binds)
        log_dir_masks(spec.binds, settings.resolved_log_dir)  # refused now, not once detached
    store = RunStore(settings.resolved_log_dir)
    if request.resumes is None:
        rotate(store, keep=settings.keep_runs, max_age=settings.max_age)
    run_id = new_run_id()
    record = RunRecord(id=run_id, project=env.project, service=service, command=command,
                       limits=limits_of(settings, request), created_at=time.time(),
                       timeout=request.timeout, log_cap=settings.max_log_size,
                       # Placed on one of several engines: the plugin is mounted, or shipped to an
                       # engine that cannot see it (runs/shipped_run.py).
                       injected=request.host or plugin_mountable(settings, env.engine) or (
                           env.engine_name is not None and settings.inject_plugin != "off"),
                       shard=request.shard, host=request.host,
                       # Whoever reads the run later (a fresh shell, without --context) finds it
                       # on the engine it was started on.
                       engine=env.engine or os.environ.get("DOCKER_HOST") or None,
                       engine_name=env.engine_name,
                       isolated=env.isolated_for is not None, parent=request.parent,
                       resumes=request.resumes)
    if request.shard and not record.injected:
        raise UsageError("--shard needs envctl's plugin in the test container, which a remote "
                         "engine cannot mount", hint="run shards on a local engine")
    run_dir = store.create(run_id)
    exchange.create_dirs(run_dir)
    if request.shard:
        exchange.seed_durations(run_dir, settings.resolved_durations_file)
    # start.json and the detached marker live in the host-only run dir: the container never
    # sees them, so nothing it does can change what the collector starts or where it writes.
    write_private(run_dir / START_FILE, json.dumps({
        "settings": settings.to_json(), "project": env.project, "isolated_for": env.isolated_for,
        "engine": record.engine, "engine_name": env.engine_name, "request": asdict(request)}))
    if setup is not None:
        setup(run_dir)
    (run_dir / DETACHED_FILE).touch(mode=0o600)
    lifecycle.create(run_dir, record)
    return run_dir, record


def host_command(settings: Settings, executable: str = sys.executable,
                 which: Callable[[str], str | None] = shutil.which) -> tuple[str, ...]:
    """The command that runs pytest here: the ``host_command`` setting, else the `pytest` next
    to envctl's Python, else the one on PATH, else ``python -m pytest`` with envctl's Python."""
    if settings.host_command:
        return settings.host_command
    beside = Path(executable).parent / "pytest"
    if os.access(beside, os.X_OK):
        return (str(beside),)
    found = which("pytest")
    if found:
        return (found,)
    if executable == sys.executable and importlib.util.find_spec("pytest") is None:
        # `python -m pytest` would exit 1 ("No module named pytest"): a test failure, to a reader.
        raise UsageError("--host: no pytest on this machine (none beside envctl's Python, none on PATH, "
                         "and envctl's Python cannot import it)",
                         hint="set host_command (e.g. host_command = [\".venv/bin/pytest\"]), or install "
                              "pytest where envctl is")
    return (executable, "-m", "pytest")


def refuse_unsafe(service: str, unsafe: tuple[tuple[str, str], ...], allowed: tuple[str, ...]) -> None:
    """The test container runs untrusted code: a service that would hand it the host (root on
    it, an engine's socket, its filesystem, namespaces, devices, dangerous capabilities or
    unconfined security options: ``docker.unsafe``) is refused unless the settings allow exactly
    that way."""
    refused = [(name, key) for name, key in unsafe if name not in allowed]
    if refused:
        keys = "; ".join(f"{key} ({name})" for name, key in refused)
        names = ", ".join(f'"{name}"' for name, _key in refused)
        raise ComposeFileError(
            f"the test service {service!r} would give the tests the host: {keys}",
            hint=f"remove it from the compose file, or allow it: allow = [{names}] in envctl.toml "
                 "([tool.envctl] in pyproject.toml)")


def environment_from_file(run_dir: Path) -> tuple[Environment, RunRequest]:
    """The run's environment and request, as its starter saw them (start.json)."""
    from envctl.env.environment import Environment  # noqa: PLC0415

    data = json.loads((run_dir / START_FILE).read_text(encoding="utf-8"))
    env = Environment(Settings.from_json(data["settings"]), project=data["project"],
                      isolated_for=data.get("isolated_for"), engine=data.get("engine"),
                      engine_name=data.get("engine_name"))
    request = RunRequest(**{**data["request"], "pytest_args": tuple(data["request"]["pytest_args"])})
    return env, request


def start_detached(env: Environment, request: RunRequest, *,
                   setup: Callable[[Path], None] | None = None) -> tuple[Path, RunRecord]:
    """Prepare the run and hand the rest (environment up, container, collection) to a background
    process, so the caller returns at once, even when the environment takes minutes to come up."""
    run_dir, record = prepare_run(env, request, setup=setup)
    spawn_collector(run_dir)
    return run_dir, record


def start_container(run_dir: Path, record: RunRecord, cancelled: Callable[[], bool], *,
                    while_compose_runs: Callable[[], None] = lambda: None) -> RunRecord:
    """Bring the environment up, then create and start the test container (no --rm).
    ``while_compose_runs``: called as `compose run` is started (work that must not hold it back).

    Raises the EnvctlError that stopped it (CancelRequestedError when ``cancelled`` turned
    true); a container half-made by then is removed."""
    from envctl.docker.preload import preload_sdk_in_background  # noqa: PLC0415

    env, request = environment_from_file(run_dir)
    settings = env.settings
    service = record.service
    name = container_name(env.project, service, record.id)
    fingerprinting = Recorder(run_dir, settings)  # what a later resume compares, from the code on
    try:
        with env.start_lock(cancelled=cancelled):  # `compose run` may create the network: one at a time
            if not request.no_up:
                env.ensure_up(cancelled=cancelled)
            env.build([service], cancelled=cancelled)
            fingerprinting.environment(env)
            spec = env.config().services.get(service)
            shipped = ship_if_blind(env, record, run_dir, spec) if record.injected else None
            container = run_override(service, env.project, record.id, run_dir, record.limits,
                                     mounted=record.injected, shard=record.shard,
                                     service_sets=spec.environment if spec else frozenset(),
                                     binds=spec.binds if spec else (), shipped=shipped)
            if request.resumes is not None and (run_dir / exchange.INPUT_DIR / SELECT_FILE).exists():
                selecting(container, service)
            override = write_private(run_dir / RUN_OVERRIDE, json.dumps(container))
            compose = env.compose(extra_files=[override])
            if cancelled():
                raise CancelRequestedError("the run was cancelled before its container started")
            record = lifecycle.assign_container(run_dir, name)  # before it exists: always findable
            # The SDK is first needed to attach, once compose has made the container: import it
            # while compose works, not before (it would slow what comes first).
            preload_sdk_in_background()
            while_compose_runs()
            compose.run_detached(service, test_argv(settings.test_command, request.pytest_args,
                                                    request.timeout, mounted=record.injected,
                                                    shipped=shipped is not None),
                                 name=name, deadline=RUN_START_DEADLINE, cancelled=cancelled)
    except EnvctlError as exc:
        fingerprinting.environment(None)
        details = getattr(exc, "output", "")
        if details:  # compose's whole output: the one-line message may not say it all
            env.log.warning("the test container did not start", error=exc.message, compose_output=details)
        remove_container(name, env.engine)
        raise
    return record


def selecting(override: dict[str, object], service: str) -> None:
    """A resume's container: the plugin keeps exactly the tests input/select.json names."""
    spec = cast("dict[str, dict[str, Any]]", override["services"])[service]
    spec.setdefault("environment", {})[SELECT_VARIABLE] = IN_CONTAINER_SELECT


def creation_under_way(name: str, proc: Path = Path("/proc")) -> bool | None:
    """Whether a `compose run` creating the container ``name`` is alive on this machine (None:
    cannot tell, no /proc). A starter killed before it ran compose leaves none: then nobody
    will create the container, and the run can be started again instead of waited on."""
    from envctl.runs.host_process import own_commands  # noqa: PLC0415

    commands = own_commands(proc)
    if commands is None:
        return None
    wanted = name.encode()
    return any(b"run" in argv and wanted in argv and any(arg.endswith(b"compose") for arg in argv)
               for argv in commands)


def remove_container(name: str | None, host: str | None = None) -> None:
    if name is None:
        return
    from envctl.docker import timeouts  # noqa: PLC0415
    from envctl.docker.engine import Engine  # noqa: PLC0415

    try:
        with Engine(timeout=timeouts.PROMPT, host=host) as engine:
            engine.remove(name)
    except EnvctlError:
        pass
