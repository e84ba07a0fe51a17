"""The compose command line: which compose binary runs, and with which arguments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envctl.docker import compose
from envctl.docker.compose import Compose, compose_plugin


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
