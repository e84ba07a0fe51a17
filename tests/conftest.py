"""Shared test machinery: the `docker` marker and the session-wide leftover check.

Tests marked `docker` need a real engine and the compose plugin. When either is missing they
fail in CI (CI=true), so a broken setup can never pass as "all skipped", and skip elsewhere with
the reason. Every project the tests create is named `envctltest-...`; when the session ends,
anything carrying envctl's labels for such a project fails the run (and is then removed).
"""

from __future__ import annotations

import functools
import os
import secrets
import subprocess

import pytest

# Each test session names its projects envctltest-<session>-..., so the leftover check of one
# session never sees (or removes) what a concurrently running session is still using.
TEST_PROJECT_PREFIX = f"envctltest-{secrets.token_hex(2)}-"


@functools.cache
def docker_problem() -> str | None:
    """Why Docker tests cannot run here, or None when they can."""
    try:
        info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, text=True, timeout=10, check=False)
        if info.returncode != 0:
            return f"no Docker engine answers: {info.stderr.strip()[:200]}"
        compose = subprocess.run(["docker", "compose", "version", "--short"],
                                 capture_output=True, text=True, timeout=10, check=False)
        if compose.returncode != 0:
            return "the docker compose v2 plugin is missing"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker cannot be run: {exc}"
    return None


@pytest.fixture(autouse=True)
def _require_docker(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("docker") is None:
        return
    problem = docker_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI needs a Docker engine for this test: {problem}")
    pytest.skip(f"needs Docker: {problem} (run scripts/setup-docker)")


def leftovers(prefix: str = TEST_PROJECT_PREFIX) -> dict[str, list[str]]:
    """envctl-labelled containers, networks and volumes of test projects still on the engine."""
    found: dict[str, list[str]] = {}
    fmt = '{{.Label "io.envctl.project"}}\t{{.Name}}'
    for kind, argv in (
        ("containers", ["docker", "ps", "-a", "--filter", "label=io.envctl.managed",
                        "--format", '{{.Label "io.envctl.project"}}\t{{.Names}}']),
        ("networks", ["docker", "network", "ls", "--filter", "label=io.envctl.managed", "--format", fmt]),
        ("volumes", ["docker", "volume", "ls", "--filter", "label=io.envctl.managed", "--format", fmt]),
    ):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).stdout
        names = [line.split("\t", 1)[1] for line in out.splitlines()
                 if "\t" in line and line.split("\t", 1)[0].startswith(prefix)]
        if names:
            found[kind] = names
    return found


def remove_leftovers(found: dict[str, list[str]]) -> None:
    commands = {"containers": ["docker", "rm", "-f", "-v"], "networks": ["docker", "network", "rm"],
                "volumes": ["docker", "volume", "rm", "-f"]}
    for kind in ("containers", "networks", "volumes"):
        if found.get(kind):
            subprocess.run([*commands[kind], *found[kind]], capture_output=True, timeout=60,
                           check=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not any(item.get_closest_marker("docker") for item in session.items):
        return
    if docker_problem() is not None:
        return
    found = leftovers()
    if not found:
        return
    remove_leftovers(found)
    message = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in found.items())
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"LEFTOVER envctl objects after the tests (now removed): {message}",
                            red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
