"""Docker JSON becomes typed models where it enters; unknown keys are ignored."""

import pytest

from envctl.docker.models import ComposeProject, ContainerEvent, ContainerState, EngineInfo, reduce_config


def test_container_state_from_inspect() -> None:
    """The fields envctl uses are read; the rest of the JSON is ignored."""
    data = {
        "Id": "abc", "Name": "/p-db-1", "RestartCount": 2, "Unknown": {"x": 1},
        "State": {"Status": "running", "ExitCode": 0, "OOMKilled": False,
                  "Health": {"Status": "unhealthy", "Log": [{"ExitCode": 1, "Output": " down \n"}]}},
        "Config": {"Labels": {"com.docker.compose.service": "db"},
                   "Healthcheck": {"Test": ["CMD", "x"]}},
        "HostConfig": {"RestartPolicy": {"Name": "always"}},
    }
    state = ContainerState.from_inspect(data)
    assert (state.id, state.name, state.service, state.health) == ("abc", "p-db-1", "db", "unhealthy")
    assert state.restart_count == 2
    assert state.health_log[0].exit_code == 1
    assert state.health_log[0].output == "down"
    assert state.has_healthcheck
    assert state.restart_policy == "always"


def test_container_state_tolerates_missing_sections() -> None:
    """A sparse inspect (older engines, races) still parses."""
    state = ContainerState.from_inspect({"Id": "x"})
    assert state.status == "unknown"
    assert state.health is None


def test_events_are_parsed_and_others_dropped() -> None:
    """Container events give action and service; health_status keeps its value."""
    event = ContainerEvent.from_event({
        "Type": "container", "Action": "health_status: healthy", "timeNano": 5,
        "Actor": {"ID": "abc",
                  "Attributes": {"com.docker.compose.service": "db", "health_status": "healthy"}},
    })
    assert event is not None
    assert (event.action, event.service, event.health_status) == ("health_status", "db", "healthy")
    assert ContainerEvent.from_event({"Type": "network", "Action": "connect"}) is None


def test_compose_project_from_config() -> None:
    """Services, build contexts, health checks, dependencies and resources are read."""
    project = ComposeProject.from_config({
        "name": "p",
        "services": {
            "db": {"image": "postgres", "healthcheck": {"test": ["CMD", "pg_isready"]}},
            "api": {"build": {"context": "/x", "dockerfile": "D"},
                    "depends_on": {"db": {"condition": "service_healthy"}}, "ports": [{"published": "80"}]},
            "off": {"image": "i", "healthcheck": {"disable": True, "test": ["NONE"]}},
        },
        "networks": {"default": {"name": "p_default"}, "ext": {"external": True}},
        "volumes": {"data": {}},
    })
    assert project.services["db"].has_healthcheck
    assert not project.services["off"].has_healthcheck
    assert project.services["api"].build_context == "/x"
    assert project.services["api"].depends_on == {"db": "service_healthy"}
    assert project.networks["ext"].external
    assert not project.volumes["data"].external


def test_engine_info() -> None:
    """Version and API version come from /version."""
    info = EngineInfo.from_version(
        {"Version": "20.10.24", "ApiVersion": "1.41", "Os": "linux", "Arch": "amd64"})
    assert (info.version, info.api_version) == ("20.10.24", "1.41")


def test_engine_times_to_the_fraction() -> None:
    """RFC 3339 with nanoseconds becomes a Unix time; the zero time is "never"; a container
    that ran and exited has ended."""
    state = ContainerState.from_inspect({"State": {
        "Status": "exited", "StartedAt": "2026-12-04T18:00:00.25Z",
        "FinishedAt": "2026-12-04T18:00:01.5+00:00"}})
    assert state.started_at == 1796407200.25
    assert state.finished_at == 1796407201.5
    assert state.ended
    never = ContainerState.from_inspect({"State": {"Status": "created",
                                                   "StartedAt": "0001-01-01T00:00:00Z"}})
    assert (never.started, never.started_at, never.ended) == (False, None, False)


def test_unreadable_engine_times_are_none() -> None:
    """A time that does not parse is treated as never, not as an error."""
    for value in ("2026-13-45T99:00:00Z", "yesterday", 12, "2026-12-04T18:00:00"):
        assert ContainerState.from_inspect({"State": {"StartedAt": value}}).started_at is None
    whole = ContainerState.from_inspect({"State": {"StartedAt": "2026-12-04T18:00:00Z"}})
    assert whole.started_at == 1796407200.0


def test_short_compose_forms_are_read() -> None:
    """``build: ./dir`` is a context; ``depends_on`` as a list means started."""
    project = ComposeProject.from_config({"services": {"app": {"build": "./app",
                                                                 "depends_on": ["db"]}}})
    app = project.services["app"]
    assert (app.build_context, app.dockerfile, app.depends_on) == ("./app", None, {"db": "service_started"})


def test_a_services_variable_names_are_kept_never_their_values() -> None:
    """The reduced configuration keeps whether a service sets the variables envctl reads, no value."""
    from envctl.docker.models import ComposeProject, reduce_config  # noqa: PLC0415

    config = {"services": {"test": {"image": "x", "environment": {"PYTEST_XDIST_AUTO_NUM_WORKERS": "3",
                                                                  "DB_PASSWORD": "hunter2"}},
                           "other": {"image": "y", "environment": ["A=1", "B"]}}}
    reduced = reduce_config(config)
    assert reduced["services"]["test"]["environment"] == ["PYTEST_XDIST_AUTO_NUM_WORKERS"]
    assert "hunter2" not in str(reduced) and "DB_PASSWORD" not in str(reduced)
    assert "environment" not in reduced["services"]["other"]
    assert ComposeProject.from_config(config).services["other"].environment == frozenset()
    assert ComposeProject.from_config(reduced).services["test"].environment == frozenset(
        {"PYTEST_XDIST_AUTO_NUM_WORKERS"})


WHOLE = {
    "name": "p",
    "services": {
        "test": {"image": "x", "cap_add": ["SYS_ADMIN"], "devices": [{"source": "/dev/fuse"}],
                 "security_opt": ["label=disable"], "userns_mode": "host", "cgroup": "host", "uts": "host",
                 "volumes_from": ["tools"], "device_cgroup_rules": ["c 1:3 mr"],
                 "volumes": [{"type": "volume", "source": "root", "target": "/h"}],
                 "secrets": [{"source": "engine", "target": "/run/secrets/e", "mode": 292}, "token"],
                 "configs": ["conf"],
                 "environment": {"API_TOKEN": "t0k3n"}},
        "tools": {"image": "docker", "pid": "service:test",
                  "volumes": [{"type": "bind", "source": "/srv/engine", "target": "/e"}]},
    },
    "volumes": {"root": {"name": "p_root", "driver_opts": {"type": "none", "o": "bind", "device": "/"}},
                "share": {"driver_opts": {"type": "cifs", "o": "username=u,password=hunter2",
                                         "device": "//nas/share"}}},
    "secrets": {"engine": {"name": "p_engine", "file": "/run/docker.sock"},
                "token": {"name": "p_token", "environment": "API_TOKEN"}},
    "configs": {"conf": {"name": "p_conf", "content": "password=hunter3"}},
}


def test_the_reduced_configuration_keeps_what_the_refusal_reads_and_no_secret(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every key the unsafe checks read survives the reduction (the findings are the same from
    either); of a volume's driver options only a bind's device (a CIFS password is dropped).
    What `tools` shares back through `test` is not counted twice."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///srv/engine/docker.sock")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    reduced = reduce_config(WHOLE)
    assert reduced["volumes"] == {"root": {"external": False, "device": "/"}, "share": {"external": False}}
    assert "hunter2" not in str(reduced) and "t0k3n" not in str(reduced)
    assert reduced["secrets"] == {"engine": {"file": "/run/docker.sock"}} and "configs" not in reduced
    assert reduced["services"]["test"]["secrets"] == ["engine", "token"]
    assert "hunter3" not in str(reduced) and "API_TOKEN" not in str(reduced)
    whole, cached = ComposeProject.from_config(WHOLE), ComposeProject.from_config(reduced)
    assert whole == cached
    assert cached.services["tools"].unsafe == (
        ("docker-socket", "volumes: /srv/engine"),
        ("shared-namespace", "pid: service:test (test: volumes: root (a bind of /))"),
        ("shared-namespace", "pid: service:test (test: secrets: engine (a bind of /run/docker.sock))"),
        ("shared-namespace", "pid: service:test (test: userns_mode: host)"),
        ("shared-namespace", "pid: service:test (test: cgroup: host)"),
        ("shared-namespace", "pid: service:test (test: uts: host)"),
        ("shared-namespace", "pid: service:test (test: cap_add: SYS_ADMIN)"),
        ("shared-namespace", "pid: service:test (test: devices: /dev/fuse)"),
        ("shared-namespace", "pid: service:test (test: device_cgroup_rules: c 1:3 mr)"),
        ("shared-namespace", "pid: service:test (test: security_opt: label=disable)"))
    assert [name for name, _key in cached.services["test"].unsafe] == [
        "host-root-mount", "docker-socket", "docker-socket", "host-userns", "host-cgroup", "host-uts",
        "capabilities", "devices", "devices", "security-opt"]


def test_a_service_alone_is_judged_without_its_project(monkeypatch: pytest.MonkeyPatch) -> None:
    """ServiceSpec.from_config with no project: another service it names cannot be checked."""
    from envctl.docker.models import ServiceSpec  # noqa: PLC0415

    monkeypatch.delenv("DOCKER_HOST", raising=False)
    spec = ServiceSpec.from_config("test", {"image": "x", "volumes_from": ["tools"], "privileged": True})
    assert spec.unsafe == (("privileged", "privileged: true"),
                           ("volumes-from", "volumes_from: tools (no such service)"))
