"""Tests on this machine against the running environment: `envctl env` in each format, and a
host pytest with `-p envctl.hostenv` that reaches the services through their published ports,
started by hand and after `eval "$(envctl env --format sh)"`."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any

import jsonschema
import pytest

from envctl.schemas import load
from tests.integration.conftest import Project

pytestmark = pytest.mark.docker

HOST_SUITE = '''
import socket
import urllib.request

def test_web_answers(envctl_services):
    web = envctl_services["web"]
    with urllib.request.urlopen(web.url, timeout=10) as answer:
        assert answer.status == 200
    assert (web.host, web.ports[8000]) == ("127.0.0.1", web.port)

def test_raw_tcp_accepts(envctl_services):
    raw = envctl_services["raw-tcp"]
    assert (raw.host, raw.url) == ("127.0.0.1", None)
    socket.create_connection((raw.host, raw.ports[9000]), timeout=10).close()
'''


def _sh(project: Project, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script, "sh", sys.executable], cwd=project.path, env=project.env,
                          capture_output=True, text=True, timeout=180, check=False)


def _compose_reads(project: Project, dotenv: str, names: list[str]) -> dict[str, str]:
    """What docker compose makes of ``dotenv``'s variables (its config needs no engine)."""
    (project.path / "env.dotenv").write_text(dotenv)
    (project.path / "read.yaml").write_text("services:\n  r:\n    image: x\n    environment:\n"
                                            + "".join(f"      {n}: ${{{n}}}\n" for n in names))
    done = subprocess.run(["docker", "compose", "-p", "read", "-f", "read.yaml", "--env-file", "env.dotenv",
                           "config", "--format", "json"], cwd=project.path, capture_output=True, text=True,
                          timeout=60, check=True)
    read: dict[str, str] = json.loads(done.stdout)["services"]["r"]["environment"]
    return {name: value.replace("$$", "$") for name, value in read.items()}  # config writes $ as $$


def test_the_host_reaches_the_services(make_project: Any) -> None:
    """env --json (schema, URL only where HTTP answers), --format sh eval'ed, --format dotenv
    as compose reads it, and a host pytest with the fixture, by hand and under the variables;
    the environment is still up afterwards."""
    project = make_project("hostenv")
    up = project.envctl("up")
    assert up.returncode == 0, up.output
    try:
        found = project.envctl("env", "--json")
        assert found.returncode == 0, found.output
        data = json.loads(found.stdout)
        jsonschema.Draft202012Validator(load("env")).validate(data)
        services = {s["service"]: s for s in data["services"]}
        web, raw = services["web"], services["raw-tcp"]
        assert (web["host"], web["url"]) == ("127.0.0.1", f"http://127.0.0.1:{web['port']}")
        assert web["ports"][0]["container_port"] == 8000
        assert (raw["host"], raw["url"], raw["ports"][0]["container_port"]) == ("127.0.0.1", None, 9000)
        with urllib.request.urlopen(web["url"], timeout=10) as answer:  # noqa: S310  # http://, from envctl
            assert answer.status == 200
        variables = data["variables"]
        chosen = ("ENVCTL_SERVICES", "ENVCTL_WEB_URL", "ENVCTL_RAW_TCP_PORT_9000")
        assert {k: variables[k] for k in chosen} == {
            "ENVCTL_SERVICES": "raw-tcp web", "ENVCTL_WEB_URL": web["url"],
            "ENVCTL_RAW_TCP_PORT_9000": str(raw["port"])}

        evaluated = _sh(project, 'eval "$("$1" -m envctl env --format sh)" && env')
        assert evaluated.returncode == 0, evaluated.stderr
        seen = dict(line.split("=", 1) for line in evaluated.stdout.splitlines()
                    if line.startswith("ENVCTL_") and line.split("=", 1)[0] in variables)
        assert seen == variables

        dotenv = project.envctl("env", "--format", "dotenv")
        assert dotenv.returncode == 0, dotenv.output
        assert _compose_reads(project, dotenv.stdout, sorted(variables)) == variables

        (project.path / "host_tests").mkdir()
        (project.path / "host_tests" / "test_host.py").write_text(HOST_SUITE)
        pytest_argv = '"$1" -m pytest -p envctl.hostenv -p no:cacheprovider -q host_tests'
        by_hand = _sh(project, pytest_argv)
        assert by_hand.returncode == 0, by_hand.stdout[-3000:] + by_hand.stderr[-2000:]
        assert "2 passed" in by_hand.stdout
        under_variables = _sh(project, f'eval "$("$1" -m envctl env --format sh)" && {pytest_argv}')
        assert under_variables.returncode == 0, (under_variables.stdout[-3000:]
                                                 + under_variables.stderr[-2000:])
        assert "2 passed" in under_variables.stdout

        after = project.envctl("ps", "--json")
        assert sorted((s["service"], s["phase"]) for s in json.loads(after.stdout)["services"]) == [
            ("raw-tcp", "ready"), ("web", "ready")]
    finally:
        project.envctl("down", "--volumes")
