"""A run on an engine that cannot see this machine's folders (a remote engine, or one in a mount
namespace or VM of its own): what the test container would have bound from here is shipped to
the engine instead, each into a volume of its own filled from a tar stream, at the same place in
the container:

- the test service's bind mounts of the project folder (a bind from outside the project cannot
  be shipped: an error naming it), without envctl's log dir;
- envctl's plugin and the run's input folder (the shard's durations, a resume's selection).

The exchange folder is not shipped: the runner keeps it in the container, and the collector copies
its files out once the container has ended. What the tests write into a shipped folder stays on
the engine (it is removed with the run). How much was shipped, and how long it took, is recorded.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from envctl.errors import ComposeFileError, EnvironmentFailedError
from envctl.runs.collector_log import say

SHIP_CAP = 2 << 30  # bytes of one folder's tar: a checkout's sources, not its build output


@dataclass(frozen=True)
class Shipment:
    """One folder (or file) of this machine, and where the container has it."""

    source: Path
    target: str
    read_only: bool
    exclude: Path | None = None  # a folder in it never shipped (envctl's log dir)


@dataclass(frozen=True)
class Shipped:
    """What was shipped: the compose volume entries that replace the binds, the volumes' names,
    and its size and time."""

    volumes: list[dict[str, object]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0


def shipments(project_dir: Path, log_dir: Path, binds: Iterable[tuple[str, str]],
              writable: Iterable[str], extra: Iterable[Shipment] = ()) -> list[Shipment]:
    """What to ship for the test service's ``binds`` (host source, target): each inside the
    project folder, the log dir left out; ComposeFileError naming one from outside it."""
    project = Path(os.path.realpath(project_dir))
    log = Path(os.path.realpath(log_dir))
    writable_sources = set(writable)
    found: list[Shipment] = []
    for source, target in binds:
        host = Path(os.path.realpath(source))
        if not host.is_relative_to(project):
            raise ComposeFileError(
                f"the test service binds {source} ({target}), outside the project folder {project}: an "
                "engine that cannot see this machine cannot have it",
                hint="bind only folders of the project, or leave that engine out of engines")
        if not host.is_dir():
            raise ComposeFileError(
                f"the test service binds the file {source} ({target}): envctl ships folders to an "
                "engine that cannot see this machine, not single files",
                hint="bind the folder holding it, or leave that engine out of engines")
        found.append(Shipment(host, target, source not in writable_sources,
                              log if log.is_relative_to(host) else None))
    return [*found, *extra]


def pack(shipment: Shipment, into: IO[bytes], cap: int = SHIP_CAP) -> tuple[int, list[str]]:
    """Write ``shipment``'s tar to ``into`` (its content at the tar's top; links kept as links,
    never followed; the excluded folder and every `.envctl` folder left out; a file that cannot
    be read or vanished while packed is skipped): (its size, the paths skipped).
    EnvironmentFailedError as soon as it passes ``cap``."""
    skipped: list[str] = []
    root = shipment.source
    with tarfile.open(fileobj=into, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder, dirs, files in os.walk(root, onerror=lambda exc: skipped.append(str(exc.filename))):
            here = Path(folder)
            dirs[:] = sorted(d for d in dirs if d != ".envctl" and not _excluded(here / d, shipment.exclude))
            for name in [*dirs, *sorted(files)]:
                path = here / name
                try:
                    tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
                except OSError:
                    skipped.append(str(path))
                if into.tell() > cap:
                    raise EnvironmentFailedError(
                        f"{root} passes {cap >> 20} MiB as a tar, what envctl ships at most to an engine "
                        "that cannot see it", hint="bind a smaller folder into the test service")
    return into.tell(), skipped


def _excluded(path: Path, exclude: Path | None) -> bool:
    return exclude is not None and (path == exclude or path.is_relative_to(exclude))


def ship(shipping: list[Shipment], *, host: str | None, image: str, run_labels: dict[str, str],
         run_id: str) -> Shipped:
    """Ship each of ``shipping`` to the engine at ``host`` into a volume named after the run,
    labelled as the run's container is (removed with it); the binds' replacements."""
    from envctl.docker import timeouts  # noqa: PLC0415
    from envctl.docker.engine import Engine  # noqa: PLC0415  # lazy: the SDK is heavy

    started = time.monotonic()
    volumes: list[dict[str, object]] = []
    names: list[str] = []
    total = 0
    with Engine(timeout=timeouts.CALL, host=host) as engine:
        for index, shipment in enumerate(shipping):
            name = f"envctl-ship-{run_id}-{index}"
            # Outside the log dir (a folder CI may upload): the tar holds the project's files.
            with tempfile.TemporaryFile(prefix="envctl-ship-") as handle:
                size, skipped = pack(shipment, handle)
                if skipped:
                    say(f"collector {run_id}: not shipped (unreadable, or gone while packed): "
                        f"{', '.join(skipped[:10])}{' ...' if len(skipped) > 10 else ''}")
                total += size
                handle.seek(0)
                engine.fill_volume(name, image, handle, labels=run_labels)
            names.append(name)
            volumes.append({"type": "volume", "source": name, "target": shipment.target,
                            "read_only": shipment.read_only})
    return Shipped(volumes, names, total, time.monotonic() - started)
