"""Where this machine reaches a container's port, from one inspect: published bindings first,
then, with a local engine on Linux, the container's own addresses."""

from __future__ import annotations

from typing import Any

from envctl.docker.endpoints import container_endpoints


def inspect(bindings: object, networks: object = None) -> dict[str, Any]:
    return {"NetworkSettings": {"Ports": {"80/tcp": bindings}, "Networks": networks or {}}}


def test_a_binding_to_one_address_is_reached_there() -> None:
    """HostIp kept when it is a specific address; the same binding is listed once."""
    data = inspect([{"HostIp": "10.0.0.5", "HostPort": "8080"}, {"HostIp": "10.0.0.5", "HostPort": "8080"}])
    assert container_endpoints(data, 80, "", "darwin") == [("10.0.0.5", 8080)]


def test_bindings_without_a_port_number_are_skipped() -> None:
    """An empty or odd HostPort, or a binding that is not a mapping, is not an endpoint."""
    data = inspect([{"HostIp": "", "HostPort": ""}, "junk", {"HostPort": "x1"}, {"HostPort": "81"}])
    assert container_endpoints(data, 80, "", "darwin") == [("127.0.0.1", 81)]


def test_an_ssh_engine_is_reached_on_its_host_only() -> None:
    """A remote engine: its host for published ports, never the container's bridge addresses."""
    data = inspect([{"HostIp": "", "HostPort": "8080"}], {"n": {"IPAddress": "172.18.0.3"}})
    assert container_endpoints(data, 80, "ssh://me@build-box", "linux") == [("build-box", 8080)]


def test_a_local_engine_on_linux_adds_each_network_address() -> None:
    """After the published ports; networks without an address are skipped."""
    data = inspect(None, {"a": {"IPAddress": "172.18.0.3"}, "b": {"IPAddress": ""}, "c": "junk"})
    assert container_endpoints(data, 80, "unix:///var/run/docker.sock", "linux") == [("172.18.0.3", 80)]


def test_an_inspect_without_network_settings_has_no_endpoints() -> None:
    """A container that never started has no NetworkSettings to read."""
    assert container_endpoints({"NetworkSettings": None}, 80, "", "linux") == []
