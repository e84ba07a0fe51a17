"""What the test container looks like: the compose override (limits, labels, mounts, environment)
and the command it runs.

It sees exactly three things of envctl's: the plugin folder (read-only), the run's ``input/``
folder (read-only: the attach gate, recorded durations) and its exchange folder (the one place
it may write, outside the run directory). Device nodes cannot be made in it (no CAP_MKNOD), so
nothing it leaves in the exchange folder can be a device the host would open.

A bind of the test service that holds envctl's log dir (a project mounted whole, the log dir in
it) would show the container every run directory read-write: a tmpfs is laid over the log dir's
place inside it, so it sees an empty folder there (it cannot unmount it: no SYS_ADMIN).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from envctl.docker import labels
from envctl.errors import ConfigError
from envctl.runs.exchange import ATTACHED_FILE, DURATIONS_FILE, INPUT_DIR, JUNIT_FILE, box
from envctl.runs.state import Limits
from envctl.runs.store import UNMOUNTED_RUN_DIR

if TYPE_CHECKING:
    from envctl.runs.shipping import Shipped  # a start that ships imports it (tarfile, tempfile)

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
              mounted: bool = True, shipped: bool = False) -> list[str]:
    """The command run in the container: the test command under envctl's runner.

    Unmounted (remote engine), the runner's source is passed inline with ``python3 -c``. Shipped
    (the plugin in a volume), the exchange folder is the container's own, copied out at the end.
    """
    run_dir = IN_CONTAINER_RUN_DIR if mounted and not shipped else UNMOUNTED_RUN_DIR
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


MASK_SIZE = 1048576  # bytes: the mask only has to exist; whatever the tests write there is lost
MOVE_LOG_DIR = "set log_dir (ENVCTL_LOG_DIR) to a folder outside what the test service mounts"


def log_dir_masks(binds: Iterable[tuple[str, str]], log_dir: Path) -> list[dict[str, object]]:
    """The tmpfs mounts that hide ``log_dir`` from the test container: one for each bind
    ``(host source, container target)`` whose source holds it, at its place under the target.

    Raises ConfigError when a bind is the log dir or inside it (nothing could hide it then) or
    its target is not an absolute path (the log dir's place in the container is unknown)."""
    log = Path(os.path.realpath(log_dir))
    masks: list[dict[str, object]] = []
    for source, target in binds:
        host = Path(os.path.realpath(source))  # a link in the path is followed as the engine does
        if host.is_relative_to(log):
            raise ConfigError(f"the test service mounts {source} ({target}), envctl's log dir "
                              f"{log} or a folder in it: its runs would be the tests' to rewrite",
                              hint=MOVE_LOG_DIR)
        if not log.is_relative_to(host):
            continue
        place = PurePosixPath(target)
        if not place.is_absolute() or ".." in place.parts:
            raise ConfigError(f"the test service mounts {source} at {target!r}, which holds "
                              f"envctl's log dir {log}: cannot tell where to hide it",
                              hint=MOVE_LOG_DIR)
        masks.append({"type": "tmpfs", "target": str(place / log.relative_to(host).as_posix()),
                      "tmpfs": {"size": MASK_SIZE}})
    return masks


def run_override(service: str, project: str, run_id: str, run_dir: Path, limits: Limits,
                 *, mounted: bool = True, shard: str | None = None,
                 service_sets: frozenset[str] = frozenset(),
                 binds: Iterable[tuple[str, str]] = (),
                 shipped: Shipped | None = None) -> dict[str, object]:
    """A compose override for the test service alone: limits, labels, `-n auto`'s worker count
    (unless the service sets its own: ``service_sets`` names its variables), and (when the
    engine is local) the plugin, input and exchange mounts with the plugin's environment.

    ``binds``: the service's own bind mounts; the log dir (``run_dir``'s parent) is hidden
    under those that hold it (``log_dir_masks``). ``shipped``: the engine cannot see this
    machine: the volumes shipped there take the binds' places (runs/shipping.py), and the
    exchange folder stays in the container (no attach gate: no file of ours reaches it)."""
    masks = log_dir_masks(binds, run_dir.parent)
    spec: dict[str, object] = {
        "mem_limit": limits.memory,
        "memswap_limit": limits.memory,  # no swap: over the limit is an OOM kill, not a crawl
        "cpus": limits.cpus,
        "pids_limit": limits.pids,
        "cap_drop": ["MKNOD"],
        "labels": labels.run_labels(project, run_id),
    }
    workers = {} if XDIST_WORKERS in service_sets else {XDIST_WORKERS: str(auto_workers(limits.cpus))}
    if masks:
        spec["volumes"] = masks
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
    if shipped is not None:
        environment["ENVCTL_PROGRESS_DIR"] = UNMOUNTED_RUN_DIR
        del environment["ENVCTL_ATTACH_GATE"]
        return {"services": {service: {**spec, "volumes": [*masks, *shipped.volumes],
                                       "environment": environment}},
                "volumes": {name: {"external": True} for name in shipped.names}}
    return {"services": {service: {**spec,
        "volumes": [*masks,
            {"type": "bind", "source": str(PLUGIN_DIR), "target": IN_CONTAINER_PLUGIN, "read_only": True},
            {"type": "bind", "source": str(run_dir / INPUT_DIR), "target": IN_CONTAINER_INPUT,
             "read_only": True},
            {"type": "bind", "source": str(box(run_dir)), "target": IN_CONTAINER_RUN_DIR},
        ],
        "environment": environment,
    }}}
