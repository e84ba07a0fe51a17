"""What ``init`` reads from the compose configuration: the test service, commands, ports."""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from envctl.docker.models import ComposeProject, ServiceSpec
from envctl.errors import ComposeFileError

TEST_NAMES = ("test", "tests", "pytest")


def pick_test_service(config: ComposeProject, configured: str,
                      commands: dict[str, list[str]] | None = None) -> str:
    """The configured name if compose has it; else a service named like one, else one behind a
    `test` profile, else one whose command runs pytest."""
    services = config.services
    if configured in services:
        return configured
    for name in TEST_NAMES:
        if name in services:
            return name
    for name, spec in services.items():
        if "test" in spec.profiles or "tests" in spec.profiles:
            return name
    for name, command in (commands or {}).items():
        if name in services and any("pytest" in part for part in command):
            return name
    raise ComposeFileError(
        f"no test service among {', '.join(sorted(services)) or 'no services'}",
        hint="name the service that runs pytest `test`, or write test_service = \"...\" yourself")


def runs_pytest(command: list[str] | None) -> bool:
    return bool(command) and any("pytest" in part for part in command or [])


def waits_for(config: ComposeProject, test_service: str,
              ports: dict[str, int] | None) -> tuple[list[str], dict[str, int]]:
    """Services with no health check: those only waited for running, and those with a port."""
    unchecked = _without_health_check(config, test_service)
    known = {name: port for name, port in (ports or {}).items() if name in unchecked}
    return [name for name in unchecked if name not in known], known


def ports_of(raw_config: Mapping[str, object]) -> dict[str, int]:
    """Each service's first container port, published (`ports`) or only exposed (`expose`),
    from `docker compose config` JSON."""
    services = raw_config.get("services")
    found: dict[str, int] = {}
    if not isinstance(services, dict):
        return found
    for name, spec in services.items():
        if not isinstance(spec, dict):
            continue
        candidates: list[object] = []
        for entry in spec.get("ports") or []:
            candidates.append(entry.get("target") if isinstance(entry, dict) else None)
        candidates += list(spec.get("expose") or [])
        for candidate in candidates:
            port = _port(candidate)
            if port is not None:
                found[str(name)] = port
                break
    return found


def _port(value: object) -> int | None:
    text = str(value).split("/", 1)[0]  # "5432/tcp"
    if isinstance(value, bool) or not text.isdigit() or not 0 < int(text) < 65536:
        return None  # a range ("8000-8010") or nothing usable
    return int(text)


def _without_health_check(config: ComposeProject, test_service: str) -> list[str]:
    def needs(spec: ServiceSpec) -> bool:
        return not spec.has_healthcheck and spec.restart in ("no", "") and spec.name != test_service

    return sorted(name for name, spec in config.services.items() if needs(spec))


def commands_of(raw_config: dict[str, object]) -> dict[str, list[str]]:
    """Each service's command from `docker compose config` JSON (read here only, never cached);
    a string split as compose splits it (shell words)."""
    services = raw_config.get("services")
    found: dict[str, list[str]] = {}
    if isinstance(services, dict):
        for name, spec in services.items():
            command = spec.get("command") if isinstance(spec, dict) else None
            if isinstance(command, list):
                found[str(name)] = [str(part) for part in command]
            elif isinstance(command, str):
                try:
                    found[str(name)] = shlex.split(command)
                except ValueError:
                    continue
    return found
