"""The ports a compose project's containers publish, and where this machine reaches each.

A port bound to every address (0.0.0.0, ::) is reached on this machine's loopback; on a remote
engine (DOCKER_HOST tcp://, ssh://...) every published port is reached on the engine's host.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from envctl.docker import labels
from envctl.docker.models import ContainerState
from envctl.docker.translate import translate_errors
from envctl.errors import ContainerGoneError

if TYPE_CHECKING:
    from envctl.docker.engine import Engine

REMOTE_SCHEMES = ("tcp", "ssh", "http", "https")  # not a local (rootless) unix socket or pipe


@dataclass(frozen=True)
class Published:
    """One published port: the container's ``container_port``/``protocol`` at ``host``:``host_port``."""

    container_port: int
    protocol: str
    host: str
    host_port: int


@dataclass(frozen=True)
class ProjectContainer:
    """One container of the project (not a one-off `compose run`), and the ports it publishes."""

    state: ContainerState
    ports: tuple[Published, ...]


def engine_host(docker_host: str) -> str | None:
    """The host of a remote engine's address (a DOCKER_HOST value); None for a local one."""
    try:
        parts = urllib.parse.urlsplit(docker_host)
        host = parts.hostname
    except ValueError:  # a malformed address: the SDK says so when it connects
        return None
    return host if parts.scheme in REMOTE_SCHEMES and host else None


def published_ports(data: dict[str, Any], docker_host: str) -> tuple[Published, ...]:
    """The published ports of one inspect (pure): TCP first, then by container port; within a
    port, its bindings as this machine reaches them, IPv4 before IPv6, each once."""
    raw = data.get("NetworkSettings")
    settings: dict[str, Any] = raw if isinstance(raw, dict) else {}
    table = settings.get("Ports")
    remote = engine_host(docker_host)
    found: list[Published] = []
    for spec, bindings in (table.items() if isinstance(table, dict) else ()):
        number, _, protocol = str(spec).partition("/")
        if not (number.isascii() and number.isdigit()) or not isinstance(bindings, list):
            continue
        for binding in bindings:
            host_port = str(binding.get("HostPort", "")) if isinstance(binding, dict) else ""
            if not (host_port.isascii() and host_port.isdigit()) or not 0 < int(host_port) < 65536:
                continue
            host = remote or _local_host(str(binding.get("HostIp") or ""))
            port = Published(int(number), protocol or "tcp", host, int(host_port))
            if port not in found:
                found.append(port)
    return tuple(sorted(found, key=lambda p: (p.protocol != "tcp", p.protocol, p.container_port,
                                              ":" in p.host)))


def _local_host(host_ip: str) -> str:
    if host_ip in ("", "0.0.0.0"):  # noqa: S104  # bound to every address: loopback reaches it
        return "127.0.0.1"
    return "::1" if host_ip == "::" else host_ip


def project_containers(engine: Engine, project: str) -> list[ProjectContainer]:
    """The project's containers (one-off `compose run` containers left out), each with its
    published ports: one list and one inspect each, on ``engine``."""
    docker_host = engine.host if engine.host is not None else os.environ.get("DOCKER_HOST", "")
    api = engine.client.api
    with translate_errors("listing containers"):
        summaries = api.containers(all=True, filters={"label": [f"{labels.COMPOSE_PROJECT}={project}"]})
    found = []
    for summary in summaries:
        tags = summary.get("Labels") if isinstance(summary, dict) else None
        if isinstance(tags, dict) and tags.get(labels.COMPOSE_ONEOFF) == "True":
            continue
        try:
            with translate_errors("inspecting a container"):
                data = api.inspect_container(str(summary["Id"]))
        except ContainerGoneError:  # removed since the list: not part of the environment now
            continue
        found.append(ProjectContainer(ContainerState.from_inspect(data), published_ports(data, docker_host)))
    return found
