"""Compose as people write it: compose's own project naming, COMPOSE_FILE, profiles, env files,
include and extends. `docker compose ...` and `envctl ...` see one and the same project."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_PROJECT_PREFIX, leftovers, remove_leftovers
from tests.integration.conftest import FIXTURES, Project, base_env

pytestmark = pytest.mark.docker

SIDECAR = """  sidecar:
    image: debian:bookworm-slim
    command: ["sleep", "${SIDECAR_SLEEP:-infinity}"]
    init: true
    healthcheck: {test: ["CMD", "true"], interval: 500ms, timeout: 2s, retries: 5}
"""
TEST = """  test:
    build: {build}
    image: envctltest-pytest:1
    volumes: ["{suite}:/suite"]
    working_dir: /suite
    command: ["pytest"]
"""


Make = Callable[..., tuple[Project, str]]


@pytest.fixture
def native(tmp_path: Path) -> Iterator[Make]:
    """A project dir with the runs fixture's Dockerfile and suite, and no ENVCTL_PROJECT_NAME:
    the name is compose's. Whatever carries its name is removed afterwards."""
    made: list[str] = []

    def make(files: dict[str, str], env: dict[str, str] | None = None) -> tuple[Project, str]:
        name = f"{TEST_PROJECT_PREFIX}{uuid.uuid4().hex[:8]}"
        path = tmp_path / f"checkout-{len(made)}"
        shutil.copytree(FIXTURES / "runs", path)
        (path / "compose.yaml").unlink()
        for rel, text in files.items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_text(text.replace("{name}", name))
        made.append(name)
        return Project(name, path, {**base_env(tmp_path), **(env or {})}), name

    yield make
    for name in made:
        subprocess.run(["docker", "compose", "-p", name, "down", "-v", "-t", "1"], capture_output=True,
                       timeout=60, check=False)
        found = leftovers(name)
        if found:
            remove_leftovers(found)


def compose(project: Project, *args: str) -> str:
    """What the user's own `docker compose ARGS` prints, in the project dir, with its env."""
    result = subprocess.run(["docker", "compose", *args], cwd=project.path, env=project.env,
                            capture_output=True, text=True, timeout=120, check=True)
    return result.stdout


def running_services(project: Project) -> list[str]:
    return sorted(compose(project, "ps", "--services", "--status", "running").split())


def passes(project: Project) -> None:
    result = project.envctl("test")
    assert result.returncode == 0, result.output


def test_the_files_name_key_names_the_project(native: Make) -> None:
    """`name:` in the compose file: envctl's containers are the user's `docker compose ps`, and
    `envctl down` takes theirs."""
    project, name = native({"compose.yaml": "name: {name}\nservices:\n" + SIDECAR
                            + TEST.format(build=".", suite="./suite")})
    assert project.envctl("up").returncode == 0
    assert running_services(project) == ["sidecar"]
    assert leftovers(name).get("containers") == [f"{name}-sidecar-1"]
    passes(project)
    assert project.envctl("down", "--volumes").returncode == 0
    assert running_services(project) == []
    assert leftovers(name) == {}


def test_compose_project_name_beats_the_name_key(native: Make) -> None:
    """COMPOSE_PROJECT_NAME in the environment wins over `name:`, as in compose."""
    other = f"{TEST_PROJECT_PREFIX}{uuid.uuid4().hex[:8]}"
    project, _name = native({"compose.yaml": "name: {name}\nservices:\n" + SIDECAR},
                            env={"COMPOSE_PROJECT_NAME": other})
    assert project.envctl("up").returncode == 0
    assert running_services(project) == ["sidecar"]
    assert leftovers(other).get("containers") == [f"{other}-sidecar-1"]
    assert project.envctl("down", "--volumes").returncode == 0
    assert leftovers(other) == {}


def test_compose_file_with_its_separator(native: Make) -> None:
    """COMPOSE_FILE=ci/base.yml;ci/test.yml with `;` as separator: both files, relative paths
    resolved from the first file's folder (the project directory, as compose does)."""
    project, _name = native({
        "ci/base.yml": "name: {name}\nservices:\n" + SIDECAR,
        "ci/test.yml": "services:\n" + TEST.format(build="..", suite="../suite")},
        env={"COMPOSE_FILE": "ci/base.yml;ci/test.yml", "COMPOSE_PATH_SEPARATOR": ";"})
    passes(project)
    assert running_services(project) == ["sidecar"]
    assert project.envctl("down", "--volumes").returncode == 0


def test_a_test_service_behind_a_profile(native: Make) -> None:
    """`profiles: ["test"]` on the test service (so `compose up` leaves it out) and a `debug`
    service: `envctl up` starts neither, `envctl test` runs the tests, COMPOSE_PROFILES=debug
    brings debug up too."""
    debug = SIDECAR.replace("  sidecar:", "  debug:") + '    profiles: ["debug"]\n'
    project, _name = native({"compose.yaml": "name: {name}\nservices:\n" + SIDECAR + debug
                             + TEST.format(build=".", suite="./suite") + '    profiles: ["test"]\n'})
    assert project.envctl("up").returncode == 0
    assert running_services(project) == ["sidecar"]
    passes(project)
    assert project.envctl("up", extra_env={"COMPOSE_PROFILES": "debug"}).returncode == 0
    assert running_services(project) == ["debug", "sidecar"]
    assert project.envctl("down", "--volumes").returncode == 0
    assert compose(project, "--profile", "*", "ps", "-a", "-q") == ""


def test_env_file_and_dot_env_are_interpolated(native: Make) -> None:
    """`.env` is read as compose reads it; `env_files` (compose's --env-file) replaces it."""
    project, name = native({
        "compose.yaml": "name: {name}\nservices:\n" + SIDECAR.replace(
            "image: debian:bookworm-slim", "image: ${SIDECAR_IMAGE}"),
        ".env": "SIDECAR_IMAGE=debian:bookworm-slim\n",
        "ci.env": "SIDECAR_IMAGE=debian:bookworm-slim\nSIDECAR_SLEEP=3600\n"})
    assert project.envctl("up").returncode == 0
    assert project.envctl("down", "--volumes").returncode == 0
    up = project.envctl("up", extra_env={"ENVCTL_ENV_FILES": "ci.env"})
    assert up.returncode == 0, up.output
    command = subprocess.run(["docker", "inspect", "-f", "{{json .Config.Cmd}}", f"{name}-sidecar-1"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    assert json.loads(command)[-1] == "3600"
    assert project.envctl("down", "--volumes").returncode == 0


def test_include_and_extends_resolve_as_compose_does(native: Make) -> None:
    """The sidecar comes from an `include:`d file and the test service `extends:` a base in
    another folder: relative paths resolve from each file's own folder."""
    project, _name = native({
        "compose.yaml": "name: {name}\ninclude:\n  - deps/sidecar.yaml\nservices:\n"
                        "  test:\n    extends: {file: common/base.yaml, service: pytest}\n",
        "deps/sidecar.yaml": "services:\n" + SIDECAR,
        "common/base.yaml": "services:\n" + TEST.format(build="..", suite="../suite").replace(
            "  test:", "  pytest:")})
    passes(project)
    assert running_services(project) == ["sidecar"]
    assert project.envctl("down", "--volumes").returncode == 0



def test_init_writes_settings_and_a_workflow_once(native: Make) -> None:
    """`envctl init --workflow` in a project whose test service is behind a profile and named
    otherwise: envctl.toml names it, the workflow uses the action; run again, nothing changes;
    `envctl test` then runs with those settings."""
    project, _name = native({"compose.yaml": "name: {name}\nservices:\n" + SIDECAR.replace(
        "    healthcheck: {test: [\"CMD\", \"true\"], interval: 500ms, timeout: 2s, retries: 5}\n", "")
        + TEST.format(build=".", suite="./suite").replace("  test:", "  suite-runner:")
        + '    profiles: ["test"]\n'})
    first = project.envctl("init", "--workflow", "--action", "acme/envctl@v1")
    assert first.returncode == 0, first.output
    toml = (project.path / "envctl.toml").read_text()
    assert 'test_service = "suite-runner"' in toml
    assert "waits for these to be running only: sidecar." in toml
    workflow = (project.path / ".github" / "workflows" / "envctl.yml").read_text()
    assert "uses: acme/envctl@v1" in workflow
    again = project.envctl("init", "--workflow", "--action", "acme/envctl@v1")
    assert again.returncode == 0
    assert [line.split()[1] for line in again.stdout.splitlines() if line.startswith("kept ")] == [
        "envctl.toml", ".gitignore", ".github/workflows/envctl.yml"], again.stdout
    assert (project.path / "envctl.toml").read_text() == toml
    passes(project)
    assert project.envctl("down", "--volumes").returncode == 0


WEB = """  web:
    build: .
    image: envctltest-pytest:1
    command: ["sh", "-c", "sleep 2; echo web listening; exec python -m http.server 8000"]
  worker:
    image: debian:bookworm-slim
    command: ["sh", "-c", "sleep 1; echo worker ready; exec sleep infinity"]
    init: true
"""


def test_waits_for_services_without_a_health_check(native: Make) -> None:
    """[wait.web] http on a port that is not published and [wait.worker] a log line: `up`
    returns once both hold (the web server starts after 2 s); a port that never opens fails
    `up` at its own timeout, naming the service and why."""
    project, name = native({
        "compose.yaml": "name: {name}\nservices:\n" + WEB,
        "envctl.toml": '[wait.web]\nport = 8000\nhttp = "/"\n\n[wait.worker]\nlog = "^worker ready$"\n'})
    up = project.envctl("up")
    assert up.returncode == 0, up.output
    assert up.seconds >= 2
    assert '"detail": "ready (HTTP GET :8000/ answering 2xx/3xx)"' in up.stderr
    assert '"detail": "ready (a log line matching \'^worker ready$\')"' in up.stderr
    assert "has no health check" not in up.stderr
    assert project.envctl("down", "--volumes").returncode == 0
    (project.path / "envctl.toml").write_text('[wait.worker]\nport = 9999\ntimeout = "2s"\n')
    failed = project.envctl("up", "worker")
    assert failed.returncode == 15, failed.output
    assert "worker: port 9999: not by the deadline; last try:" in failed.stderr
    (project.path / "envctl.toml").write_text('[wait.wrker]\nport = 9999\n')
    misspelt = project.envctl("up")
    assert misspelt.returncode == 11, misspelt.output
    assert "envctl: error: wait: no service wrker in the compose files" in misspelt.stderr
    assert leftovers(name) == {}


def test_waits_from_the_services_own_network(native: Make) -> None:
    """wait_probe = "network" (what auto picks on Docker Desktop or a remote engine, whose
    containers this machine cannot reach): the unpublished web port is tried from a container of
    the test image in web's network namespace; a port that never opens fails saying so; no
    probe container is left behind."""
    project, name = native({
        "compose.yaml": "name: {name}\nservices:\n" + WEB + TEST.format(build=".", suite="./suite"),
        "envctl.toml": 'wait_probe = "network"\n\n[wait.web]\nport = 8000\nhttp = "/"\n'})
    up = project.envctl("up", "web")
    assert up.returncode == 0, up.output
    assert up.seconds >= 2
    assert '"detail": "ready (HTTP GET :8000/ answering 2xx/3xx)"' in up.stderr
    (project.path / "envctl.toml").write_text(
        'wait_probe = "network"\n\n[wait.worker]\nport = 9999\ntimeout = "2s"\n')
    failed = project.envctl("up", "worker")
    assert failed.returncode == 15, failed.output
    assert "worker: port 9999: not by the deadline; from the service's network: port 9999:" in failed.stderr
    assert project.envctl("down", "--volumes").returncode == 0
    assert leftovers(name) == {}


def test_a_test_on_a_running_environment_still_waits_for_its_gates(native: Make) -> None:
    """The user started the services with their own `docker compose up -d`: `envctl test` does not
    take "running" for ready, it waits for [wait.web] (the server starts 2 s late) first."""
    project, name = native({
        "compose.yaml": "name: {name}\nservices:\n" + WEB + TEST.format(build=".", suite="./suite"),
        "envctl.toml": '[wait.web]\nport = 8000\nhttp = "/"\n'})
    (project.path / "suite").mkdir(exist_ok=True)
    for old in (project.path / "suite").glob("test_*.py"):
        old.unlink()
    (project.path / "suite" / "test_web.py").write_text(
        "import urllib.request\n"
        "def test_the_web_service_answers():\n"
        "    assert urllib.request.urlopen('http://web:8000/', timeout=5).status == 200\n")
    compose(project, "up", "-d", "web", "worker")
    result = project.envctl("test")
    assert result.returncode == 0, result.output
    assert "1 passed" in result.stdout
    assert project.envctl("down", "--volumes").returncode == 0
    assert leftovers(name) == {}
