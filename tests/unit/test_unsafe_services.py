"""A test service that would hand its untrusted container the host is refused unless allowed,
and the compose configuration envctl caches holds no environment values (no engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envctl.docker.models import ComposeProject, reduce_config
from envctl.errors import ComposeFileError, ConfigError
from envctl.runs.launch import refuse_unsafe
from envctl.settings import load_settings

CONFIG = {
    "name": "p",
    "services": {
        "test": {
            "image": "python:3.11", "privileged": True, "network_mode": "host", "pid": "host",
            "ipc": "host", "environment": {"DB_PASSWORD": "hunter2", "API_TOKEN": "t0k3n"},
            "build": {"context": ".", "dockerfile": "Dockerfile", "args": {"NPM_TOKEN": "s3cr3t"}},
            "volumes": [{"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"},
                        {"type": "bind", "source": "/srv/suite", "target": "/suite"}],
        },
        "db": {"image": "postgres", "environment": {"POSTGRES_PASSWORD": "hunter2"}},
    },
    "secrets": {"token": {"environment": "API_TOKEN"}},
}


def test_each_way_to_the_host_is_named_with_its_key() -> None:
    """privileged, the Docker socket, and the host's network, pid and ipc namespaces."""
    services = ComposeProject.from_config(CONFIG).services
    assert services["test"].unsafe == (
        ("privileged", "privileged: true"), ("docker-socket", "volumes: /var/run/docker.sock"),
        ("host-network", "network_mode: host"), ("host-pid", "pid: host"), ("host-ipc", "ipc: host"))
    assert services["db"].unsafe == ()


def test_refused_unless_allowed_with_a_message_saying_how() -> None:
    """The message names each key; the hint says how to allow exactly those."""
    unsafe = ComposeProject.from_config(CONFIG).services["test"].unsafe
    with pytest.raises(ComposeFileError) as caught:
        refuse_unsafe("test", unsafe, ("host-pid", "host-ipc"))
    assert caught.value.message == ("the test service 'test' would give the tests the host: "
                                    "privileged: true (privileged); volumes: /var/run/docker.sock "
                                    "(docker-socket); network_mode: host (host-network)")
    assert caught.value.hint == ('remove it from the compose file, or allow it: allow = ["privileged", '
                                 '"docker-socket", "host-network"] in envctl.toml ([tool.envctl] in '
                                 "pyproject.toml)")
    refuse_unsafe("test", unsafe, ("privileged", "docker-socket", "host-network", "host-pid", "host-ipc"))


def test_allow_takes_only_known_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A typo in `allow` is a config error, not a silent refusal later."""
    (tmp_path / "envctl.toml").write_text('allow = ["privileged", "docker-sock"]\n')
    with pytest.raises(ConfigError, match="unknown 'docker-sock'"):
        load_settings(tmp_path, environ={})
    (tmp_path / "envctl.toml").write_text('allow = ["privileged"]\n')
    assert load_settings(tmp_path, environ={}).allow == ("privileged",)


def test_the_cached_configuration_holds_no_environment_values() -> None:
    """`docker compose config` expands every variable; what envctl keeps has none of them, and
    parses to the same services."""
    reduced = reduce_config(CONFIG)
    text = json.dumps(reduced)
    for secret in ("hunter2", "t0k3n", "s3cr3t", "DB_PASSWORD", "secrets"):
        assert secret not in text
    assert ComposeProject.from_config(reduced) == ComposeProject.from_config(CONFIG)


def test_the_start_lock_is_per_engine_and_project_not_per_checkout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two checkouts of one compose project on one engine wait for each other's starts; another
    engine, or another project, does not."""
    from envctl.env.environment import Environment  # noqa: PLC0415

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)

    def lock(checkout: str, project: str) -> Path:
        (tmp_path / checkout).mkdir(exist_ok=True)
        settings = load_settings(tmp_path / checkout, environ={"ENVCTL_PROJECT_NAME": project})
        return Environment(settings).start_lock_path()

    first = lock("a", "shop")
    assert first == lock("b", "shop")
    assert first != lock("a", "other")
    assert first.parent == tmp_path / "state" / "envctl" / "locks"
    monkeypatch.setenv("DOCKER_HOST", "tcp://build-box:2376")
    assert lock("a", "shop") != first


def test_allow_takes_every_name_the_checks_give_the_first_ones_unchanged(tmp_path: Path) -> None:
    """The names of the first release still work; the new ones are accepted from the file and
    from ENVCTL_ALLOW."""
    (tmp_path / "envctl.toml").write_text(
        'allow = ["privileged", "docker-socket", "host-network", "host-pid", "host-ipc", "capabilities"]\n')
    assert load_settings(tmp_path, environ={}).allow == (
        "privileged", "docker-socket", "host-network", "host-pid", "host-ipc", "capabilities")
    environ = {"ENVCTL_ALLOW": "host-root-mount,devices security-opt shared-namespace,volumes-from"}
    assert load_settings(tmp_path, environ=environ).allow == (
        "host-root-mount", "devices", "security-opt", "shared-namespace", "volumes-from")


def test_the_refusal_names_a_new_way_and_how_to_allow_it() -> None:
    """cap_add SYS_ADMIN is refused with its key; allowing `capabilities` lets it through."""
    project = ComposeProject.from_config({"services": {"test": {"image": "x", "cap_add": ["SYS_ADMIN"]}}})
    unsafe = project.services["test"].unsafe
    with pytest.raises(ComposeFileError) as caught:
        refuse_unsafe("test", unsafe, ("privileged",))
    assert caught.value.message == ("the test service 'test' would give the tests the host: "
                                    "cap_add: SYS_ADMIN (capabilities)")
    assert 'allow = ["capabilities"]' in (caught.value.hint or "")
    refuse_unsafe("test", unsafe, ("capabilities",))
