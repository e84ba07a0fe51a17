"""`envctl doctor`'s check of the test service: every way it would hand its container the host,
with its compose key, refused or allowed (no engine: the configuration is given); and whether
`test --host` can apply the limits (the cgroup's making faked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from envctl.docker.models import ComposeProject
from envctl.doctor import CheckStatus, check_host_limits, check_test_service
from envctl.runs import host_limits
from envctl.settings import load_settings

CONFIG = {"services": {"test": {"image": "x", "privileged": True, "cap_add": ["MKNOD"], "pid": "host",
                                "volumes": [{"type": "bind", "source": "/", "target": "/host"}]},
                       "db": {"image": "postgres"}}}


@pytest.fixture
def project(monkeypatch: pytest.MonkeyPatch) -> ComposeProject:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    return ComposeProject.from_config(CONFIG)


def test_doctor_lists_what_it_refuses_and_what_is_allowed(tmp_path: Path, project: ComposeProject) -> None:
    """Each finding with its key and name, split into refused and allowed; the hint allows the
    refused ones."""
    (tmp_path / "envctl.toml").write_text('allow = ["host-pid", "capabilities"]\n')
    check = check_test_service(load_settings(tmp_path, environ={}), project)
    assert check.status == CheckStatus.FAIL
    assert check.detail == ("test: refused: privileged: true (privileged); volumes: / (host-root-mount) | "
                            "allowed by the settings: pid: host (host-pid); cap_add: MKNOD (capabilities)")
    assert check.hint.startswith('remove it from the compose file, or allow it: allow = ["privileged", '
                                 '"host-root-mount"]')


def test_doctor_warns_when_all_is_allowed_and_passes_a_safe_service(
        tmp_path: Path, project: ComposeProject) -> None:
    """All allowed: a warning listing them; a service with nothing: ok, its name alone."""
    environ = {"ENVCTL_ALLOW": "privileged,host-root-mount,host-pid,capabilities"}
    check = check_test_service(load_settings(tmp_path, environ=environ), project)
    assert (check.status, check.detail) == (CheckStatus.WARN, (
        "test: allowed by the settings: privileged: true (privileged); volumes: / (host-root-mount); "
        "pid: host (host-pid); cap_add: MKNOD (capabilities)"))
    safe = check_test_service(load_settings(tmp_path, environ={"ENVCTL_TEST_SERVICE": "db"}), project)
    assert (safe.status, safe.detail, safe.hint) == (CheckStatus.OK, "db", "")


def test_host_limits_warn_with_the_reason_or_pass_with_the_version(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """No cgroup: a warning saying why; one made: ok, and it is removed at once."""
    settings = load_settings(tmp_path, environ={})
    refused = "cannot create a cgroup: Permission denied"
    monkeypatch.setattr(host_limits, "make", lambda run_id, limits: refused)
    check = check_host_limits(settings)
    assert (check.status, check.detail) == (CheckStatus.WARN, "`test --host` runs without limits here: "
                                            "cannot create a cgroup: Permission denied")
    removed: list[host_limits.HostCgroup] = []
    made = host_limits.HostCgroup(2, ("/sys/fs/cgroup/envctl/envctl-20260101-000000-abcd",))
    monkeypatch.setattr(host_limits, "make", lambda run_id, limits: made)
    monkeypatch.setattr(host_limits, "remove", removed.append)
    check = check_host_limits(settings)
    assert (check.status, check.detail, removed) == (
        CheckStatus.OK, "`test --host` runs under the limits (a cgroup v2 of its own)", [made])
