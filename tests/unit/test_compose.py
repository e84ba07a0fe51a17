"""Compose: which binary runs, with which arguments, under which deadline, and what its
failures become."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from python_on_whales.exceptions import DockerException

from envctl.docker import compose
from envctl.docker.compose import Compose, compose_plugin
from envctl.errors import ComposeFileError, ComposeUnavailableError, DockerError


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A docker config folder with the compose plugin in its own cli-plugins, and no system one."""
    monkeypatch.setattr(compose, "SYSTEM_PLUGIN_DIRS", (str(tmp_path / "system"),))
    plugin = tmp_path / "config" / "cli-plugins" / "docker-compose"
    plugin.parent.mkdir(parents=True)
    plugin.write_text("#!/bin/true\n")
    plugin.chmod(0o755)
    return tmp_path / "config"


def test_the_users_plugin_is_run_directly(config_dir: Path) -> None:
    """With no context set, the plugin in the user's cli-plugins folder runs without the docker CLI."""
    assert compose_plugin({"DOCKER_CONFIG": str(config_dir)}) == config_dir / "cli-plugins" / "docker-compose"


def test_a_system_plugin_is_found_in_the_docker_clis_order(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a user plugin, the first system folder that has one wins."""
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "docker-compose").write_text("")
        (folder / "docker-compose").chmod(0o755)
    monkeypatch.setattr(compose, "SYSTEM_PLUGIN_DIRS", (str(tmp_path / "none"), str(first), str(second)))
    assert compose_plugin({"HOME": str(tmp_path / "home")}) == first / "docker-compose"


@pytest.mark.parametrize("config", [
    {"currentContext": "remote"},
    {"cliPluginsExtraDirs": ["/opt/plugins"]},
    "not json",
    ["a", "list"],
])
def test_what_only_the_docker_cli_decides_goes_through_it(config_dir: Path, config: object) -> None:
    """A context, extra plugin folders or an unreadable config: `docker compose`, not the plugin."""
    text = config if isinstance(config, str) else json.dumps(config)
    (config_dir / "config.json").write_text(text)
    assert compose_plugin({"DOCKER_CONFIG": str(config_dir)}) is None


def test_the_default_context_named_is_still_direct(config_dir: Path) -> None:
    """`currentContext: default` and DOCKER_CONTEXT=default are the plain engine."""
    (config_dir / "config.json").write_text(json.dumps({"currentContext": "default", "auths": {}}))
    env = {"DOCKER_CONFIG": str(config_dir), "DOCKER_CONTEXT": "default"}
    assert compose_plugin(env) == config_dir / "cli-plugins" / "docker-compose"


def test_a_context_in_the_environment_goes_through_the_docker_cli(config_dir: Path) -> None:
    """DOCKER_CONTEXT=remote is for the docker CLI to resolve."""
    assert compose_plugin({"DOCKER_CONFIG": str(config_dir), "DOCKER_CONTEXT": "remote"}) is None


def test_a_plugin_that_cannot_run_is_left_to_the_docker_cli(config_dir: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The first plugin found is the CLI's, runnable or not: not skipped for a later one."""
    (config_dir / "cli-plugins" / "docker-compose").chmod(0o644)
    system = tmp_path / "system"
    system.mkdir()
    (system / "docker-compose").write_text("")
    (system / "docker-compose").chmod(0o755)
    monkeypatch.setattr(compose, "SYSTEM_PLUGIN_DIRS", (str(system),))
    assert compose_plugin({"DOCKER_CONFIG": str(config_dir)}) is None


def test_under_the_docker_cli_the_plugin_is_not_run_standalone(config_dir: Path) -> None:
    """DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND set (envctl run from a CLI plugin): the plugin would
    read its arguments as a plugin's; `docker compose` then."""
    env = {"DOCKER_CONFIG": str(config_dir), "DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND": "/usr/bin/docker"}
    assert compose_plugin(env) is None


def test_a_context_setting_always_goes_through_the_docker_cli() -> None:
    """`context = "x"` in the settings is the docker CLI's --context flag."""
    argv = Compose([Path("/p/compose.yaml")], "proj", context="remote").command("run", "test")
    assert argv == ["docker", "--context", "remote", "compose", "--file", "/p/compose.yaml",
                    "--project-name=proj", "run", "test"]


def test_the_command_line_names_files_env_files_profiles_and_project(
        config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compose flags come in compose's order, after the binary that runs them."""
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    argv = Compose([Path("/p/a.yaml"), Path("/p/b.yaml")], None, env_files=[Path("/p/.env.ci")],
                   profiles=["test"]).command("up", "--detach")
    assert argv == [str(config_dir / "cli-plugins" / "docker-compose"), "--file", "/p/a.yaml",
                    "--file", "/p/b.yaml", "--env-file", "/p/.env.ci", "--profile", "test",
                    "up", "--detach"]


class Whales:
    """A stand-in python-on-whales client: ``compose.<verb>`` answers from ``answers`` (a value
    or an exception) and records its arguments."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.compose = self

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            answer = self.answers.get(name)
            if isinstance(answer, BaseException):
                raise answer
            return answer
        return call


def failed(code: int, stderr: str) -> DockerException:
    """python-on-whales' error for a compose command that exited ``code``."""
    return DockerException(["docker", "compose"], code, b"", stderr.encode())


@pytest.fixture
def whales(monkeypatch: pytest.MonkeyPatch) -> tuple[Compose, Whales, list[float | None]]:
    """A Compose whose client is a stand-in; the deadline of each client made is kept."""
    answers: dict[str, Any] = {}
    client = Whales(answers)
    deadlines: list[float | None] = []

    def make(_self: Compose, deadline: float | None) -> Whales:
        deadlines.append(deadline)
        return client

    monkeypatch.setattr(Compose, "_client", make)
    return Compose([Path("/p/compose.yaml")], "proj", timeout=40), client, deadlines


def test_the_client_runs_under_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """With timeout(1) on PATH, the docker CLI is started under the call's deadline."""
    monkeypatch.setattr("envctl.docker.compose.shutil.which", lambda name: f"/usr/bin/{name}")
    client = Compose([Path("/p/compose.yaml")], "proj", env_files=[Path("/p/.env")],
                     profiles=["ci"])._client(30)
    config = client.client_config
    assert config.client_call == ["timeout", "--kill-after=5", "30", "docker"]
    assert (config.compose_files, config.compose_project_name) == ([Path("/p/compose.yaml")], "proj")
    assert (config.compose_env_files, config.compose_profiles) == ([Path("/p/.env")], ["ci"])
    monkeypatch.setattr("envctl.docker.compose.shutil.which", lambda _name: None)
    assert Compose([], None)._client(30).client_config.client_call == ["docker"]


def test_config_is_parsed(whales: tuple[Compose, Whales, list[float | None]]) -> None:
    """`compose config` JSON becomes a ComposeProject, under the project's own timeout."""
    project, client, deadlines = whales
    client.answers["config"] = {"name": "proj", "services": {"db": {"image": "postgres:16"}}}
    config = project.config()
    assert (config.name, list(config.services)) == ("proj", ["db"])
    assert config.services["db"].image == "postgres:16"
    assert client.calls == [("config", (), {"return_json": True})]
    assert deadlines == [40]


def test_files_compose_rejects_are_a_compose_file_error(
        whales: tuple[Compose, Whales, list[float | None]]) -> None:
    """The files named, with compose's telling line."""
    project, client, _deadlines = whales
    client.answers["config"] = failed(
        15, "validating /p/compose.yaml: services.db Additional property x is not allowed")
    with pytest.raises(ComposeFileError) as caught:
        project.config_json()
    assert str(caught.value) == ("compose rejects /p/compose.yaml: validating /p/compose.yaml: "
                                 "services.db Additional property x is not allowed")


def test_a_call_killed_at_its_deadline_says_so(whales: tuple[Compose, Whales, list[float | None]]) -> None:
    """timeout(1)'s exit 124 is the deadline, named in seconds."""
    project, client, deadlines = whales
    client.answers["down"] = failed(compose.TIMEOUT_EXIT, "")
    with pytest.raises(DockerError, match=r"^docker compose down: docker compose did not finish within 20s$"):
        project.down(deadline=20)
    assert deadlines == [20]


def test_a_missing_plugin_is_compose_unavailable(whales: tuple[Compose, Whales, list[float | None]]) -> None:
    """The docker CLI's words for an absent plugin become the install hint."""
    project, client, _deadlines = whales
    client.answers["down"] = failed(1, f"docker: {compose.NO_PLUGIN}.")
    with pytest.raises(ComposeUnavailableError) as caught:
        project.down()
    assert caught.value.hint == compose.COMPOSE_HINT


def test_a_failed_command_keeps_its_output(whales: tuple[Compose, Whales, list[float | None]]) -> None:
    """Its exit code and everything it printed, for the caller to explain."""
    project, client, _deadlines = whales
    client.answers["down"] = failed(1, "Error response from daemon: removal in progress")
    with pytest.raises(compose.ComposeCommandError) as caught:
        project.down(volumes=True, deadline=20)
    assert (str(caught.value), caught.value.returncode) == ("docker compose down: removal in progress", 1)
    assert caught.value.output == "Error response from daemon: removal in progress"
    assert client.calls == [("down", (), {"volumes": True, "remove_orphans": True, "timeout": 5,
                                          "quiet": True})]


@pytest.mark.parametrize(("printed", "error"), [
    ("Docker Compose version v2.10.2", "docker compose 2.10.2 is too old; envctl needs >= 2.20"),
    ("nonsense", "cannot read the compose version from 'nonsense'"),
])
def test_an_unusable_compose_version(whales: tuple[Compose, Whales, list[float | None]],
                                     printed: str, error: str) -> None:
    """Too old, or unreadable: compose unavailable, saying which."""
    project, client, _deadlines = whales
    client.answers["version"] = printed
    with pytest.raises(ComposeUnavailableError) as caught:
        project.version()
    assert str(caught.value) == error


def test_the_compose_version(whales: tuple[Compose, Whales, list[float | None]]) -> None:
    """Read from its own words, asked under at most 20 s; absent is unavailable."""
    project, client, deadlines = whales
    client.answers["version"] = "Docker Compose version v2.40.3"
    assert project.version() == (2, 40, 3)
    assert deadlines == [20]
    client.answers["version"] = failed(1, "unknown command")
    with pytest.raises(ComposeUnavailableError, match=r"^the docker compose v2 plugin is not installed$"):
        project.version()


@pytest.fixture
def timeout_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `timeout` on PATH that records its arguments and exits with $EXIT after printing $SAY."""
    record = tmp_path / "argv"
    fake = tmp_path / "bin" / "timeout"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\nprintf "$SAY"\nexit "${{EXIT:-0}}"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    return record


def test_run_detached_starts_the_test_container(timeout_cli: Path) -> None:
    """`compose run --detach` under timeout(1), named, without its dependencies or a TTY."""
    Compose([Path("/p/c.yaml")], "proj", context="ci").run_detached("test", ["pytest", "-x"],
                                                                   name="proj-test-r1", deadline=120)
    assert timeout_cli.read_text().splitlines() == [
        "--kill-after=5", "120", "docker", "--context", "ci", "compose", "--file", "/p/c.yaml",
        "--project-name=proj", "run", "--detach", "--no-deps", "--no-TTY", "--name", "proj-test-r1",
        "test", "pytest", "-x"]


def test_run_detached_failures(timeout_cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed at its deadline, or failed with compose's words and output."""
    project = Compose([Path("/p/c.yaml")], "proj", context="ci")
    monkeypatch.setenv("EXIT", str(compose.TIMEOUT_EXIT))
    with pytest.raises(DockerError, match=r"^starting the test container: docker compose run did not "
                                          r"finish within 120s$"):
        project.run_detached("test", [], name="n", deadline=120)
    monkeypatch.setenv("EXIT", "1")
    monkeypatch.setenv("SAY", "Error response from daemon: Conflict. The name is in use")
    with pytest.raises(compose.ComposeCommandError) as caught:
        project.run_detached("test", [], name="n", deadline=120)
    assert str(caught.value) == "starting the test container: Conflict. The name is in use"
    assert caught.value.output == "Error response from daemon: Conflict. The name is in use"


def test_build_runs_under_its_deadline_and_says_how_it_failed(timeout_cli: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`compose build --quiet` under timeout(1); killed at its deadline or failed in compose's words."""
    project = Compose([Path("/p/c.yaml")], "proj", context="ci")
    project.build(["web", "test"], deadline=1800)
    assert timeout_cli.read_text().splitlines() == [
        "--kill-after=5", "1800", "docker", "--context", "ci", "compose", "--file", "/p/c.yaml",
        "--project-name=proj", "build", "--quiet", "web", "test"]
    monkeypatch.setenv("EXIT", str(compose.TIMEOUT_EXIT))
    with pytest.raises(DockerError, match=r"^building web: docker compose did not finish within 90s$"):
        project.build(["web"], deadline=90)
    monkeypatch.setenv("EXIT", "17")
    monkeypatch.setenv("SAY", "failed to solve: process did not complete successfully")
    with pytest.raises(compose.ComposeCommandError) as caught:
        project.build(["web"], deadline=90)
    assert (str(caught.value), caught.value.returncode) == (
        "building web: failed to solve: process did not complete successfully", 17)


def test_nothing_to_build_runs_nothing(timeout_cli: Path) -> None:
    """No services: no compose call at all."""
    Compose([Path("/p/c.yaml")], "proj").build([], deadline=90)
    assert not timeout_cli.exists()


def test_start_up_is_a_process_the_caller_watches(timeout_cli: Path, tmp_path: Path) -> None:
    """`compose up --detach --no-build` under timeout(1), its output to the caller's file."""
    with (tmp_path / "up.log").open("wb") as log:
        proc = Compose([Path("/p/c.yaml")], "proj", context="ci").start_up(["db"], output=log, deadline=60)
        assert proc.wait() == 0
    assert timeout_cli.read_text().splitlines()[:3] == ["--kill-after=5", "60", "docker"]
    assert timeout_cli.read_text().splitlines()[-5:] == ["up", "--detach", "--no-build", "--no-color", "db"]


def test_the_plugin_lookup_is_cached_per_environment(config_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked for this process's environment, the answer is kept; a new DOCKER_CONFIG asks again."""
    monkeypatch.setattr(compose, "_plugin_cache", {})
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.delenv("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND", raising=False)
    plugin = config_dir / "cli-plugins" / "docker-compose"
    assert compose_plugin() == plugin
    plugin.unlink()
    assert compose_plugin() == plugin  # kept: the lookup is not repeated for each command
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir / "elsewhere"))
    assert compose_plugin() is None


def test_no_home_and_no_docker_config_goes_through_the_docker_cli() -> None:
    """The CLI would look the home up in the password database: left to it."""
    assert compose_plugin({}) is None


def test_a_projects_engine_is_handed_to_compose_in_its_environment(
        config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose for another engine runs with DOCKER_HOST set (and DOCKER_CONTEXT, which would win,
    unset) by env(1): this process's environment stays as it is."""
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    monkeypatch.setenv("DOCKER_CONTEXT", "elsewhere")
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    argv = Compose([Path("/p/c.yaml")], "proj", host="unix:///run/e2/docker.sock").command("ps")
    assert argv == ["env", "-u", "DOCKER_CONTEXT", "DOCKER_HOST=unix:///run/e2/docker.sock",
                    str(config_dir / "cli-plugins" / "docker-compose"), "--file", "/p/c.yaml",
                    "--project-name=proj", "ps"]
    assert os.environ["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    assert os.environ["DOCKER_CONTEXT"] == "elsewhere"


def test_a_projects_engine_reaches_the_python_on_whales_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """The short calls (config, down) go to the same engine, named by env(1) as the process
    calls' are (so a context's TLS settings come with it), under the deadline's timeout."""
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)
    monkeypatch.delenv("DOCKER_TLS", raising=False)
    config = Compose([Path("/p/c.yaml")], "proj", host="ssh://ci@box")._client(30).client_config
    assert config.host is None
    assert config.client_call[-5:] == ["env", "-u", "DOCKER_CONTEXT", "DOCKER_HOST=ssh://ci@box", "docker"]
    assert Compose([Path("/p/c.yaml")], "proj")._client(30).client_config.client_call[-1:] == ["docker"]
