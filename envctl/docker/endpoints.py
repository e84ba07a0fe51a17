"""Where this machine can reach a container's port, from one inspect (pure)."""

from __future__ import annotations

import urllib.parse
from typing import Any


def container_endpoints(data: dict[str, Any], port: int, docker_host: str,
                        platform: str) -> list[tuple[str, int]]:
    """``endpoints`` from one inspect (pure, for tests)."""
    raw = data.get("NetworkSettings")
    settings: dict[str, Any] = raw if isinstance(raw, dict) else {}
    found: list[tuple[str, int]] = []
    remote = urllib.parse.urlsplit(docker_host) if docker_host else None
    engine_host = remote.hostname if remote is not None and remote.scheme in ("tcp", "ssh", "http", "https") \
        else None
    bindings = (settings.get("Ports") or {}).get(f"{port}/tcp") or []
    for binding in bindings if isinstance(bindings, list) else []:
        host_port = str(binding.get("HostPort", "")) if isinstance(binding, dict) else ""
        if not host_port.isdigit():
            continue
        host_ip = str(binding.get("HostIp") or "")
        host = engine_host or ("127.0.0.1" if host_ip in ("", "0.0.0.0") else  # noqa: S104  # bind-all
                               "::1" if host_ip == "::" else host_ip)
        if (host, int(host_port)) not in found:
            found.append((host, int(host_port)))
    if engine_host is None and platform.startswith("linux"):  # the bridge is this machine's
        # After the published ports: where the bridge is not routable (rootless Docker, envctl in
        # a CI job container) a connect to it hangs for the whole try.
        networks = settings.get("Networks") or {}
        for network in networks.values() if isinstance(networks, dict) else []:
            address = network.get("IPAddress") if isinstance(network, dict) else None
            if isinstance(address, str) and address:
                found.append((address, port))
    return found
