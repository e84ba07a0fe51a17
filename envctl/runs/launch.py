"""Starting a run: its record, the compose override that injects limits, labels and the
progress plugin, the test container (`compose run -d`, no --rm), and its collector."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.docker import labels
from envctl.errors import ComposeFileError, EnvctlError, UsageError
from envctl.files import write_private
from envctl.runs.collector import spawn_collector
from envctl.runs.ids import new_run_id
from envctl.runs.rotation import rotate
from envctl.runs.state import Limits, RunRecord, RunState
from envctl.runs.store import (
    ATTACHED_FILE,
    CANCEL_FILE,
    DETACHED_FILE,
    DURATIONS_FILE,
    JUNIT_FILE,
    START_FILE,
    UNMOUNTED_RUN_DIR,
    RunStore,
)
from envctl.settings import Settings

if TYPE_CHECKING:
    from envctl.environment import Environment

PLUGIN_DIR = Path(__file__).resolve().parent.parent / "pytest_plugin"
IN_CONTAINER_PLUGIN = "/envctl"
IN_CONTAINER_RUN_DIR = "/envctl-run"
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


def container_name(project: str, service: str, run_id: str) -> str:
    return f"{project}-{service}-run-{run_id}"


def plugin_mountable(settings: Settings) -> bool:
    """Bind mounts reach the test container only when the engine runs on this machine."""
    if settings.inject_plugin == "off":
        return False
    host = os.environ.get("DOCKER_HOST", "")
    return not host or host.startswith("unix://")


def test_argv(command: tuple[str, ...], request: RunRequest, *, mounted: bool = True) -> list[str]:
    """The command run in the container: the test command under envctl's runner.

    Unmounted (remote engine), the runner's source is passed inline with ``python3 -c``.
    """
    run_dir = IN_CONTAINER_RUN_DIR if mounted else UNMOUNTED_RUN_DIR
    argv = [*command, *request.pytest_args]
    if any("pytest" in part for part in command):
        argv.append(f"--junitxml={run_dir}/{JUNIT_FILE}")
    runner = (["python3", f"{IN_CONTAINER_PLUGIN}/envctl_runner.py"] if mounted else
              ["python3", "-c", (PLUGIN_DIR / "envctl_runner.py").read_text(encoding="utf-8")])
    return [*runner, f"{request.timeout:g}", run_dir, "--", *argv]


def run_override(service: str, project: str, run_id: str, run_dir: Path, limits: Limits,
                 *, mounted: bool = True, shard: str | None = None) -> dict[str, object]:
    """A compose override for the test service alone: limits, labels, and (when the engine is
    local) the plugin and run-dir mounts with the plugin's environment."""
    spec: dict[str, object] = {
        "mem_limit": limits.memory,
        "memswap_limit": limits.memory,  # no swap: over the limit is an OOM kill, not a crawl
        "cpus": limits.cpus,
        "pids_limit": limits.pids,
        "labels": labels.run_labels(project, run_id),
    }
    if not mounted:
        return {"services": {service: spec}}
    return {"services": {service: {**spec,
        "volumes": [
            {"type": "bind", "source": str(PLUGIN_DIR), "target": IN_CONTAINER_PLUGIN, "read_only": True},
            {"type": "bind", "source": str(run_dir), "target": IN_CONTAINER_RUN_DIR},
        ],
        "environment": {
            "PYTEST_PLUGINS": "envctl_progress",
            "PYTHONPATH": IN_CONTAINER_PLUGIN,
            "ENVCTL_PROGRESS_DIR": IN_CONTAINER_RUN_DIR,
            "ENVCTL_ATTACH_GATE": f"{IN_CONTAINER_RUN_DIR}/{ATTACHED_FILE}",
            **({"ENVCTL_SHARD": shard, "ENVCTL_DURATIONS": f"{IN_CONTAINER_RUN_DIR}/{DURATIONS_FILE}"}
               if shard else {}),
        },
    }}}




def prepare_run(env: Environment, request: RunRequest) -> tuple[Path, RunRecord]:
    """Rotate old runs, check the test service, and create the run's directory and record."""
    settings = env.settings
    service = settings.test_service
    if service not in env.config().services:
        raise ComposeFileError(f"no test service {service!r} in the compose files",
                               hint="set test_service in envctl.toml")
    store = RunStore(settings.resolved_log_dir)
    rotate(store, keep=settings.keep_runs, max_age=settings.max_age)
    limits = Limits(memory=request.memory or settings.memory, cpus=request.cpus or settings.cpus,
                    pids=request.pids or settings.pids)
    run_id = new_run_id()
    run_dir = store.create(run_id)
    record = RunRecord(id=run_id, project=env.project, service=service,
                       command=[*settings.test_command, *request.pytest_args], limits=limits,
                       created_at=time.time(), timeout=request.timeout, log_cap=settings.max_log_size,
                       injected=plugin_mountable(settings), shard=request.shard,
                       isolated=env.isolated_for is not None, parent=request.parent)
    if request.shard:
        if not record.injected:
            raise UsageError("--shard needs envctl's plugin in the test container, which a remote "
                             "engine cannot mount", hint="run shards on a local engine")
        durations = settings.resolved_durations_file
        if durations.is_file():
            shutil.copyfile(durations, run_dir / DURATIONS_FILE)
    record.save(run_dir)
    write_private(run_dir / START_FILE, json.dumps({
        "settings": settings.to_json(), "project": env.project, "isolated_for": env.isolated_for,
        "request": asdict(request)}))
    return run_dir, record


def environment_from_file(run_dir: Path) -> tuple[Environment, RunRequest]:
    """The run's environment and request, as its starter saw them (start.json)."""
    from envctl.environment import Environment  # noqa: PLC0415

    data = json.loads((run_dir / START_FILE).read_text(encoding="utf-8"))
    env = Environment(Settings.from_json(data["settings"]), project=data["project"],
                      isolated_for=data.get("isolated_for"))
    request = RunRequest(**{**data["request"], "pytest_args": tuple(data["request"]["pytest_args"])})
    return env, request


def start_detached(env: Environment, request: RunRequest) -> tuple[Path, RunRecord]:
    """Prepare the run and hand the rest (environment up, container, collection) to a background
    process, so the caller returns at once, even when the environment takes minutes to come up."""
    run_dir, record = prepare_detached(env, request)
    spawn_collector(run_dir)
    return run_dir, record


def prepare_detached(env: Environment, request: RunRequest) -> tuple[Path, RunRecord]:
    """Prepare a run whose collector will also start its container (``start_from_file``)."""
    run_dir, record = prepare_run(env, request)
    (run_dir / DETACHED_FILE).touch(mode=0o600)
    return run_dir, record


def start_run(env: Environment, request: RunRequest) -> tuple[Path, RunRecord]:
    """Start a run in this process (for the foreground), then its collector."""
    run_dir, record = prepare_run(env, request)
    start_container(env, run_dir, record, request)
    spawn_collector(run_dir)
    return run_dir, record


def start_from_file(run_dir: Path, record: RunRecord) -> RunRecord:
    """The background half of ``start_detached``: read start.json and start the container."""
    env, request = environment_from_file(run_dir)
    with contextlib.suppress(EnvctlError):  # start_container recorded it as infra-error
        start_container(env, run_dir, record, request)
    return record


def start_container(env: Environment, run_dir: Path, record: RunRecord, request: RunRequest) -> None:
    """Bring the environment up, then create and start the test container (no --rm)."""
    settings = env.settings
    service = record.service
    try:
        with env.start_lock():  # `compose run` may create the project's network: one at a time
            if not request.no_up:
                env.ensure_up()
            env.build([service])
            override = write_private(run_dir / RUN_OVERRIDE, json.dumps(run_override(
                service, env.project, record.id, run_dir, record.limits, mounted=record.injected,
                shard=record.shard)))
            compose = env.compose(extra_files=[override])
            name = container_name(env.project, service, record.id)
            _refuse_if_cancelled(run_dir)
            record.container = name
            record.save(run_dir)  # before the container exists, so a reconciler can always find it
            compose.run_detached(service, test_argv(settings.test_command, request, mounted=record.injected),
                                 name=name, deadline=RUN_START_DEADLINE)
    except EnvctlError as exc:
        details = getattr(exc, "output", "")
        if details:  # compose's whole output: the one-line message may not say it all
            env.log.warning("the test container did not start", error=exc.message, compose_output=details)
        _remove_container(record.container)
        cancelled = (run_dir / CANCEL_FILE).exists()
        record.state = RunState.CANCELLED if cancelled else RunState.INFRA_ERROR
        record.message = exc.message if not cancelled else "cancelled before the tests started"
        record.finished_at = time.time()
        record.save(run_dir)
        raise
    record.state = RunState.RUNNING
    record.started_at = time.time()
    record.save(run_dir)


def _refuse_if_cancelled(run_dir: Path) -> None:
    if (run_dir / CANCEL_FILE).exists():
        raise EnvctlError("the run was cancelled before its container started")


def _remove_container(name: str | None) -> None:
    if name is None:
        return
    from envctl.docker.engine import Engine  # noqa: PLC0415

    try:
        with Engine(timeout=30) as engine:
            engine.remove(name)
    except EnvctlError:
        pass
