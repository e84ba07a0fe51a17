"""Starting a run: its record, the compose override that injects limits, labels and the
progress plugin, the test container (`compose run -d`, no --rm), and its collector."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.docker import labels
from envctl.errors import EnvctlError
from envctl.files import write_private
from envctl.runs.collector import spawn_collector
from envctl.runs.ids import new_run_id
from envctl.runs.rotation import rotate
from envctl.runs.state import Limits, RunRecord, RunState
from envctl.runs.store import JUNIT_FILE, RunStore

if TYPE_CHECKING:
    from envctl.environment import Environment
    from envctl.settings import Settings

PLUGIN_DIR = Path(__file__).resolve().parent.parent / "pytest_plugin"
IN_CONTAINER_PLUGIN = "/envctl"
IN_CONTAINER_RUN_DIR = "/envctl-run"
UNMOUNTED_RUN_DIR = "/tmp/envctl-run"  # noqa: S108  # inside the test container, copied out at the end
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
                 *, mounted: bool = True) -> dict[str, object]:
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
        },
    }}}


def start_run(env: Environment, request: RunRequest) -> tuple[Path, RunRecord]:
    """Start a run and its collector; return at once with the run's directory and record."""
    settings = env.settings
    store = RunStore(settings.resolved_log_dir)
    rotate(store, keep=settings.keep_runs, max_age=settings.max_age)
    limits = Limits(memory=request.memory or settings.memory, cpus=request.cpus or settings.cpus,
                    pids=request.pids or settings.pids)
    run_id = new_run_id()
    run_dir = store.create(run_id)
    service = settings.test_service
    mounted = plugin_mountable(settings)
    record = RunRecord(id=run_id, project=env.project, service=service,
                       command=[*settings.test_command, *request.pytest_args], limits=limits,
                       created_at=time.time(), timeout=request.timeout, log_cap=settings.max_log_size,
                       injected=mounted)
    record.save(run_dir)
    try:
        if service not in env.config().services:
            from envctl.errors import ComposeFileError  # noqa: PLC0415

            raise ComposeFileError(f"no test service {service!r} in the compose files",
                                   hint="set test_service in envctl.toml")
        if not request.no_up:
            env.ensure_up()
        env.build([service])
        override = write_private(run_dir / RUN_OVERRIDE,
                                 json.dumps(run_override(service, env.project, run_id, run_dir, limits,
                                                         mounted=mounted)))
        compose = env.compose(extra_files=[override])
        name = container_name(env.project, service, run_id)
        record.container = name
        record.save(run_dir)  # before the container exists, so a reconciler can always find it
        compose.run_detached(service, test_argv(settings.test_command, request, mounted=mounted),
                             name=name,
                             deadline=RUN_START_DEADLINE)
    except EnvctlError as exc:
        _remove_container(record.container)
        record.state = RunState.INFRA_ERROR
        record.message = exc.message
        record.finished_at = time.time()
        record.save(run_dir)
        raise
    record.state = RunState.RUNNING
    record.started_at = time.time()
    record.save(run_dir)
    spawn_collector(run_dir)
    return run_dir, record


def _remove_container(name: str | None) -> None:
    if name is None:
        return
    from envctl.docker.engine import Engine  # noqa: PLC0415

    try:
        with Engine(timeout=30) as engine:
            engine.remove(name)
    except EnvctlError:
        pass
