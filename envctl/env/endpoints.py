"""Each service of a running environment, its state, and how this machine reaches it (host and
published port per container port, a URL for ports that answer HTTP): what `envctl env`
(verbs/endpoints.py), the host pytest fixture (envctl.hostenv) and a `test --host` run's
variables (runs/host_run.py) are made of."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from envctl.addresses import Address, to_variables

if TYPE_CHECKING:
    from envctl.docker.published import ProjectContainer

HTTP_TRY = 0.5  # seconds one port has to answer a GET with an HTTP status line
HTTP_TRIES_AT_ONCE = 16  # ports tried in parallel: a project's ports are tried in about HTTP_TRY

AnswersHttp = Callable[[str, int], bool]


@dataclass(frozen=True)
class Port:
    """A published port: the container's ``container_port``/``protocol`` at ``host``:``host_port``,
    and its URL when it answered HTTP."""

    container_port: int
    protocol: str
    host: str
    host_port: int
    url: str | None = None


@dataclass(frozen=True)
class ServiceEndpoints:
    """One service: its container (the first running one, by name), that container's state, and
    its published ports (TCP first, then by container port)."""

    service: str
    container: str
    status: str
    health: str | None
    phase: str
    ports: tuple[Port, ...] = ()

    @property
    def url(self) -> str | None:
        return next((p.url for p in self.ports if p.url is not None), None)

    def address(self) -> Address:
        """Its address: the first port's host and port, each container port's first binding."""
        first = self.ports[0] if self.ports else None
        by_port: dict[int, int] = {}
        for port in self.ports:  # TCP comes first: a UDP twin of a TCP port does not replace it
            by_port.setdefault(port.container_port, port.host_port)
        return Address(self.service, host=first.host if first else None,
                       port=first.host_port if first else None, ports=by_port, url=self.url)


@dataclass(frozen=True)
class Endpoints:
    """The project and its services, by name."""

    project: str
    services: tuple[ServiceEndpoints, ...]

    def variables(self) -> dict[str, str]:
        """The ENVCTL_* variables (envctl.addresses)."""
        return to_variables(s.address() for s in self.services)


def project_endpoints(project: str, *, timeout: float, host: str | None = None,
                      probe: bool = True) -> Endpoints:
    """``project``'s services and how to reach them from here. ``host``: the engine's address (a
    DOCKER_HOST value; None: DOCKER_HOST's). ``probe``: try each TCP port with a GET (HTTP_TRY
    seconds, in parallel) to give it a URL. Starts and stops nothing."""
    from envctl.docker.engine import Engine  # noqa: PLC0415
    from envctl.docker.published import project_containers  # noqa: PLC0415

    with Engine(timeout=timeout, host=host) as engine:
        containers = project_containers(engine, project)
    return gather(project, containers, answers_http if probe else _never)


def gather(project: str, containers: Iterable[ProjectContainer], answers: AnswersHttp) -> Endpoints:
    """The services of ``containers``, each from its first running container by name, with the
    URL of each TCP port that ``answers`` HTTP (pure but for ``answers``, tried for all at once)."""
    from envctl.env.health import judge  # noqa: PLC0415

    chosen: dict[str, ProjectContainer] = {}
    for item in sorted(containers, key=lambda c: (c.state.service, c.state.name)):
        if not item.state.service:  # no compose service label: not one of the project's services
            continue
        held = chosen.get(item.state.service)
        if held is None or (held.state.status != "running" and item.state.status == "running"):
            chosen[item.state.service] = item
    running = [c for c in chosen.values() if c.state.status == "running"]
    http = speaks_http({(p.host, p.host_port) for c in running for p in c.ports if p.protocol == "tcp"},
                       answers)
    services = []
    for name, item in chosen.items():
        ports = tuple(Port(p.container_port, p.protocol, p.host, p.host_port,
                           url_of(p.host, p.host_port) if (p.host, p.host_port) in http
                           and p.protocol == "tcp" else None)
                      for p in (item.ports if item.state.status == "running" else ()))
        services.append(ServiceEndpoints(name, item.state.name, item.state.status, item.state.health,
                                         judge(item.state).phase.value, ports))
    return Endpoints(project, tuple(services))


def speaks_http(targets: set[tuple[str, int]], answers: AnswersHttp) -> set[tuple[str, int]]:
    """Which of ``targets`` answer HTTP, all tried at once (at most HTTP_TRIES_AT_ONCE)."""
    if not targets:
        return set()
    ordered = sorted(targets)
    with concurrent.futures.ThreadPoolExecutor(min(HTTP_TRIES_AT_ONCE, len(ordered)),
                                               thread_name_prefix="envctl-env-http") as pool:
        said = list(pool.map(lambda target: answers(*target), ordered))
    return {target for target, yes in zip(ordered, said, strict=True) if yes}


def answers_http(host: str, port: int) -> bool:
    """Whether GET / on ``host``:``port`` answers with an HTTP status line (any status: an API
    that says 404 at / still speaks HTTP) within HTTP_TRY seconds."""
    from envctl.env.probes import http_status  # noqa: PLC0415

    try:
        http_status(host, port, "/", seconds=HTTP_TRY)
    except (OSError, ValueError):
        return False
    return True


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _never(_host: str, _port: int) -> bool:
    return False
