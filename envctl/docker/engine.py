"""One engine, through the docker SDK: the handle everything that talks to Docker is given.

The work is done by noun (:mod:`containers`, :mod:`output`, :mod:`images`, :mod:`events`,
:mod:`resources`, :mod:`stats`); an ``Engine`` is the connection they share, under one deadline from
:mod:`timeouts`, and the one object callers pass around and tests replace. Every call has a
deadline; errors become envctl errors (:mod:`translate`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from envctl.docker import events, images, resources, ship, timeouts
from envctl.docker.connection import connect
from envctl.docker.containers import COPY_CAP, Containers
from envctl.docker.context import use_context
from envctl.docker.endpoints import container_endpoints
from envctl.docker.images import missing_images
from envctl.docker.models import ContainerState, EngineInfo
from envctl.docker.output import ATTACH_GRACE, Output
from envctl.docker.preload import preload_sdk, preload_sdk_in_background
from envctl.docker.resources import ProjectAge
from envctl.docker.stats import StatsStream, open_stats
from envctl.docker.translate import ENGINE_HINT, describe_host, translate_errors

if TYPE_CHECKING:
    import docker

# Imported from here by callers written before the split; new code imports the noun's module.
__all__ = ["ATTACH_GRACE", "ENGINE_HINT", "Engine", "ProjectAge", "container_endpoints",
           "describe_host", "missing_images", "preload_sdk", "preload_sdk_in_background",
           "translate_errors", "use_context"]


class Engine:
    """The engine at ``host`` (a DOCKER_HOST value; by default DOCKER_HOST's own).

    ``timeout`` bounds each HTTP call, a stream's opening included: seconds from
    :mod:`timeouts`. Only a stream's reads and the wait for a container's exit go on past it
    (each named by a :class:`timeouts.Unbounded`)."""

    def __init__(self, timeout: float = timeouts.CALL, *,
                 host: str | None = None) -> None:
        self.timeout = timeout
        self.host = host
        self.client: docker.DockerClient = connect(timeout, host=host)
        self._containers = Containers(self.client.api, host)
        self._output = Output(self.client.api, self._containers)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def info(self) -> EngineInfo:
        with translate_errors("asking the engine its version"):
            return EngineInfo.from_version(self.client.version())

    def cpus(self) -> int:
        """How many CPUs the engine's machine has (its `docker info` NCPU), at least 1."""
        with translate_errors("asking the engine its CPUs"):
            value = self.client.api.info().get("NCPU")
        return value if isinstance(value, int) and value > 0 else 1

    def ping(self) -> None:
        with translate_errors("pinging the engine"):
            self.client.ping()

    def ping_ok(self) -> bool:
        return self._containers.engine_answers()

    # Containers (containers.py)
    def container_state(self, container_id: str) -> ContainerState | None:
        return self._containers.state(container_id)

    def endpoints(self, container_id: str, port: int) -> list[tuple[str, int]]:
        return self._containers.endpoints(container_id, port)

    def containers(self, labels: dict[str, str] | list[str], *, all_: bool = True) -> list[ContainerState]:
        return self._containers.labelled(labels, all_=all_)

    def container_logs_tail(self, container_id: str, lines: int = 20) -> list[str]:
        return self._containers.logs_tail(container_id, lines)

    def wait_exit(self, container_id: str, timeout: float | None = None) -> int | None:
        return self._containers.wait_exit(container_id, timeout)

    def kill(self, container_id: str, signal: str) -> bool:
        return self._containers.kill(container_id, signal)

    def copy_file_out(self, container_id: str, path: str, dest: Path, *, cap: int = COPY_CAP) -> bool:
        return self._containers.copy_file_out(container_id, path, dest, cap=cap)

    def probe_in_network(self, image: str, target: str, argv: list[str], *, labels: dict[str, str],
                         seconds: float, on_created: Callable[[str], None] = lambda _id: None,
                         ) -> tuple[bool, str]:
        return self._containers.probe_in_network(image, target, argv, labels=labels,
                                                 seconds=seconds, on_created=on_created)

    def remove(self, container_id: str) -> None:
        self._containers.remove(container_id)

    def sees(self, path: str, image: str, *, labels: dict[str, str]) -> bool:
        return self._containers.sees(path, image, labels=labels)

    def free_disk(self, image: str, *, labels: dict[str, str]) -> int | None:
        return self._containers.free_disk(image, labels=labels)

    def fill_volume(self, volume: str, image: str, tar: IO[bytes], *, labels: dict[str, str]) -> None:
        ship.fill_volume(self.client.api, image, volume, tar, labels=labels, host=self.host)

    # Output (output.py)
    def output_stream(self, container_id: str, *, follow: bool,
                      tail: int | None = None) -> Iterator[bytes]:
        return self._output.stored(container_id, follow=follow, tail=tail)

    def follow_output(self, container_id: str, sink: Callable[[bytes], None], *,
                      grace: float = ATTACH_GRACE,
                      on_attached: Callable[[], None] | None = None) -> tuple[int | None, bool]:
        return self._output.follow(container_id, sink, grace=grace, on_attached=on_attached)

    # Resource use (stats.py)
    def stats(self, container_id: str) -> StatsStream:
        return open_stats(self.client.api, container_id)

    # Images (images.py), networks and volumes (resources.py), events (events.py)
    def image_exists(self, name: str) -> bool:
        return images.image_exists(self.client.api, name)

    def isolated_projects(self, isolated_label: str, project_label: str) -> dict[str, ProjectAge]:
        return resources.isolated_projects(self.client.api, isolated_label, project_label)

    def remove_labelled(self, *label_filters: str) -> dict[str, int]:
        return resources.remove_labelled(self.client.api, *label_filters)

    def events(self, *, filters: dict[str, Any], since: float | None = None,
               until: float | None = None) -> Any:
        return events.subscribe(self.client.api, filters=filters, since=since, until=until)
