"""What the test container looks like: the compose override (limits, labels, mounts, environment)
and the command it runs.

It sees exactly three things of envctl's: the plugin folder (read-only), the run's ``input/``
folder (read-only: the attach gate, recorded durations) and its exchange folder (the one place
it may write, outside the run directory). Device nodes cannot be made in it (no CAP_MKNOD), so
nothing it leaves in the exchange folder can be a device the host would open.
"""

from __future__ import annotations

import os
from pathlib import Path

from envctl.docker import labels
from envctl.runs.exchange import ATTACHED_FILE, DURATIONS_FILE, INPUT_DIR, JUNIT_FILE, box
from envctl.runs.state import Limits
from envctl.runs.store import UNMOUNTED_RUN_DIR

PLUGIN_DIR = Path(__file__).resolve().parent.parent / "pytest_plugin"
IN_CONTAINER_PLUGIN = "/envctl"
IN_CONTAINER_RUN_DIR = "/envctl-run"  # the exchange folder
IN_CONTAINER_INPUT = "/envctl-in"
# Seconds the runner holds the tests at the attach gate before starting anyway. Passed to it in
# ENVCTL_GATE_WAIT (the runner, stdlib only in the container, keeps the same default), so the host
# never imports the container's code to learn it.
GATE_WAIT = 30.0


def container_name(project: str, service: str, run_id: str) -> str:
    return f"{project}-{service}-run-{run_id}"


def test_argv(command: tuple[str, ...], pytest_args: tuple[str, ...], timeout: float, *,
              mounted: bool = True) -> list[str]:
    """The command run in the container: the test command under envctl's runner.

    Unmounted (remote engine), the runner's source is passed inline with ``python3 -c``.
    """
    run_dir = IN_CONTAINER_RUN_DIR if mounted else UNMOUNTED_RUN_DIR
    argv = [*command, *pytest_args]
    if not mounted and any("pytest" in part for part in command):
        # With the plugin mounted, it writes envctl's JUnit itself (beside the user's own
        # --junitxml, which pytest would otherwise replace); without it, pytest's option does.
        argv.append(f"--junitxml={run_dir}/{JUNIT_FILE}")
    runner = (["python3", f"{IN_CONTAINER_PLUGIN}/envctl_runner.py"] if mounted else
              ["python3", "-c", (PLUGIN_DIR / "envctl_runner.py").read_text(encoding="utf-8")])
    return [*runner, f"{timeout:g}", run_dir, "--", *argv]


XDIST_WORKERS = "PYTEST_XDIST_AUTO_NUM_WORKERS"  # what pytest-xdist's `-n auto` starts


def auto_workers(cpus: float) -> int:
    """`-n auto`'s worker count under a CPU limit: whole CPUs, at least one (xdist would count
    every CPU of the host and oversubscribe the limit)."""
    return max(1, int(cpus))


def run_override(service: str, project: str, run_id: str, run_dir: Path, limits: Limits,
                 *, mounted: bool = True, shard: str | None = None,
                 service_sets: frozenset[str] = frozenset()) -> dict[str, object]:
    """A compose override for the test service alone: limits, labels, `-n auto`'s worker count
    (unless the service sets its own: ``service_sets`` names its variables), and (when the
    engine is local) the plugin, input and exchange mounts with the plugin's environment."""
    spec: dict[str, object] = {
        "mem_limit": limits.memory,
        "memswap_limit": limits.memory,  # no swap: over the limit is an OOM kill, not a crawl
        "cpus": limits.cpus,
        "pids_limit": limits.pids,
        "cap_drop": ["MKNOD"],
        "labels": labels.run_labels(project, run_id),
    }
    workers = {} if XDIST_WORKERS in service_sets else {XDIST_WORKERS: str(auto_workers(limits.cpus))}
    if not mounted:
        return {"services": {service: {**spec, "environment": workers} if workers else spec}}
    environment = {
        **workers,
        "PYTEST_PLUGINS": "envctl_progress",
        "PYTHONPATH": IN_CONTAINER_PLUGIN,
        "ENVCTL_PROGRESS_DIR": IN_CONTAINER_RUN_DIR,
        "ENVCTL_ATTACH_GATE": f"{IN_CONTAINER_INPUT}/{ATTACHED_FILE}",
        "ENVCTL_GATE_WAIT": f"{GATE_WAIT:g}",
        # Files the container writes are handed to the host user (a root container chowns them).
        "ENVCTL_HOST_UID": str(os.getuid()),
        "ENVCTL_HOST_GID": str(os.getgid()),
    }
    if shard:
        environment |= {"ENVCTL_SHARD": shard,
                        "ENVCTL_DURATIONS": f"{IN_CONTAINER_INPUT}/{DURATIONS_FILE}"}
    return {"services": {service: {**spec,
        "volumes": [
            {"type": "bind", "source": str(PLUGIN_DIR), "target": IN_CONTAINER_PLUGIN, "read_only": True},
            {"type": "bind", "source": str(run_dir / INPUT_DIR), "target": IN_CONTAINER_INPUT,
             "read_only": True},
            {"type": "bind", "source": str(box(run_dir)), "target": IN_CONTAINER_RUN_DIR},
        ],
        "environment": environment,
    }}}
