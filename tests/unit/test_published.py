"""The ports a project's containers publish, from their inspects: where this machine reaches
each (loopback for a local engine, the engine's host for a remote one), in a stable order."""

from __future__ import annotations

from typing import Any

import pytest

from envctl.docker import labels
from envctl.docker.published import Published, engine_host, project_containers, published_ports
from envctl.errors import ContainerGoneError


def inspect(ports: object, name: str = "p-web-1", service: str = "web") -> dict[str, Any]:
    return {"Id": name, "Name": "/" + name, "State": {"Status": "running"},
            "Config": {"Labels": {labels.COMPOSE_SERVICE: service}},
            "NetworkSettings": {"Ports": ports}}


@pytest.mark.parametrize(("docker_host", "host"), [
    ("ssh://me@build-box", "build-box"), ("tcp://10.1.2.3:2376", "10.1.2.3"),
    ("tcp://[fd00::5]:2375", "fd00::5"),
    ("https://engine.example:2376", "engine.example"), ("unix:///var/run/docker.sock", None), ("", None),
    ("npipe:////./pipe/docker_engine", None), ("tcp://[bad", None),
])
def test_the_engine_host_of_an_address(docker_host: str, host: str | None) -> None:
    """Remote schemes give their host; a socket, a pipe or a malformed address give none."""
    assert engine_host(docker_host) == host


def test_bind_all_addresses_are_reached_on_loopback() -> None:
    """0.0.0.0 (or none) is 127.0.0.1, :: is ::1, IPv4 first; a specific address is kept."""
    every = "0.0.0.0"  # noqa: S104  # what the engine reports, not a bind
    data = inspect({"80/tcp": [{"HostIp": "::", "HostPort": "8080"}, {"HostIp": every, "HostPort": "8080"}],
                    "9000/tcp": [{"HostIp": "192.168.5.5", "HostPort": "9000"}, {"HostPort": "9001"}]})
    assert published_ports(data, "") == (
        Published(80, "tcp", "127.0.0.1", 8080), Published(80, "tcp", "::1", 8080),
        Published(9000, "tcp", "192.168.5.5", 9000), Published(9000, "tcp", "127.0.0.1", 9001))


def test_a_remote_engine_publishes_on_its_host_only_once() -> None:
    """Both families' bindings of one port are one address on the engine's host."""
    every = "0.0.0.0"  # noqa: S104  # what the engine reports, not a bind
    data = inspect({"80/tcp": [{"HostIp": every, "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}]})
    assert published_ports(data, "ssh://me@build-box") == (Published(80, "tcp", "build-box", 8080),)


def test_tcp_comes_first_then_by_container_port_numerically() -> None:
    """The inspect's keys sort as text (443 before 80): the order here is by number, TCP first."""
    data = inspect({"53/udp": [{"HostPort": "5353"}], "443/tcp": [{"HostPort": "8443"}],
                    "80/tcp": [{"HostPort": "8080"}], "5432/tcp": None})
    assert [(p.container_port, p.protocol) for p in published_ports(data, "")] == [
        (80, "tcp"), (443, "tcp"), (53, "udp")]


def test_odd_entries_are_skipped() -> None:
    """Unpublished ports, bad numbers and entries that are not mappings are no address."""
    data = inspect({"x/tcp": [{"HostPort": "1"}], "80/tcp": [{"HostPort": ""}, "junk", {"HostPort": "0"},
                                                              {"HostPort": "70000"}, {"HostPort": "٣"}],
                    "81/tcp": {"HostPort": "81"}, "82": [{"HostPort": "82"}]})
    assert published_ports(data, "") == (Published(82, "tcp", "127.0.0.1", 82),)
    assert published_ports({"NetworkSettings": None}, "") == ()
    assert published_ports(inspect(["not", "a", "table"]), "") == ()


class _Api:
    """The SDK's low-level API, as project_containers uses it."""

    def __init__(self, summaries: list[dict[str, Any]], inspects: dict[str, dict[str, Any]]) -> None:
        self.summaries, self.inspects = summaries, inspects
        self.filters: object = None

    def containers(self, *, all: bool, filters: object) -> list[dict[str, Any]]:
        assert all
        self.filters = filters
        return self.summaries

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        if container_id not in self.inspects:
            raise ContainerGoneError(f"no container {container_id}")
        return self.inspects[container_id]


class _Engine:
    def __init__(self, api: _Api, host: str | None) -> None:
        self.host = host

        class Client:
            pass

        self.client = Client()
        self.client.api = api  # type: ignore[attr-defined]  # a stand-in for the SDK client


def test_the_projects_containers_without_one_off_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Listed by the compose project label; `compose run` containers and ones gone since the
    list are left out; ports from the engine's own address (DOCKER_HOST when it has none)."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://engine-box:2375")
    api = _Api([{"Id": "p-web-1"}, {"Id": "p-test-run-1", "Labels": {labels.COMPOSE_ONEOFF: "True"}},
                {"Id": "gone"}],
               {"p-web-1": inspect({"80/tcp": [{"HostPort": "8080"}]}),
                "p-test-run-1": inspect({}, "p-test-run-1", "test")})
    found = project_containers(_Engine(api, None), "p")  # type: ignore[arg-type]  # a stand-in engine
    assert api.filters == {"label": [f"{labels.COMPOSE_PROJECT}=p"]}
    assert [(c.state.service, c.state.name, c.ports) for c in found] == [
        ("web", "p-web-1", (Published(80, "tcp", "engine-box", 8080),))]
    local = project_containers(_Engine(api, "unix:///var/run/docker.sock"), "p")  # type: ignore[arg-type]
    assert local[0].ports == (Published(80, "tcp", "127.0.0.1", 8080),)
