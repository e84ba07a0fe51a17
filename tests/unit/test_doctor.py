"""`envctl doctor`'s check of the test service: every way it would hand its container the host,
with its compose key, refused or allowed (no engine: the configuration is given); whether
`test --host` can apply the limits (the cgroup's making faked); an engine's disk (a fake engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from envctl.docker import engine as engine_module
from envctl.docker.models import ComposeProject
from envctl.doctor import CheckStatus, check_host_limits, check_test_service, disk_on
from envctl.runs import host_limits
from envctl.settings import Settings, load_settings

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


class DiskEngine:
    """An engine with some images and some free disk; it records which images were asked for."""

    images: tuple[str, ...] = ()
    free: int | None = None
    asked: ClassVar[list[str]] = []
    looked_with: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def __enter__(self) -> DiskEngine:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def image_exists(self, name: str) -> bool:
        self.asked.append(name)
        return name in self.images

    def free_disk(self, image: str, *, labels: dict[str, str]) -> int | None:
        self.looked_with.append((image, labels))
        return self.free


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A project envctl names "named" (ENVCTL_PROJECT_NAME), whatever compose calls it."""
    return load_settings(tmp_path, environ={"ENVCTL_PROJECT_NAME": "named"})


@pytest.fixture
def disk_engine(monkeypatch: pytest.MonkeyPatch) -> type[DiskEngine]:
    monkeypatch.setattr(engine_module, "Engine", DiskEngine)
    DiskEngine.asked, DiskEngine.looked_with = [], []
    return DiskEngine


def test_an_engines_disk_is_looked_at_with_the_test_image_first(project: ComposeProject, settings: Settings,
                                                                disk_engine: type[DiskEngine]) -> None:
    """The test service's image is tried first; the helper carries the project's labels; 5 GiB
    free is ok, 512 MiB fails with what to do."""
    disk_engine.images, disk_engine.free = ("x", "postgres"), 5 << 30
    check = disk_on(project, settings, True, host="ssh://ci@build-1", name="disk on build-1")
    assert (check.name, check.status, check.detail) == (
        "disk on build-1", CheckStatus.OK, "5g free for the engine's containers")
    assert disk_engine.asked == ["x"]
    assert disk_engine.looked_with == [("x", {"io.envctl.managed": "true", "io.envctl.project": "named",
                                              "io.envctl.role": "disk-look"})]
    disk_engine.free = 512 << 20
    low = disk_on(project, settings, True)
    assert (low.status, low.hint) == (CheckStatus.FAIL,
                                      "free some of the engine's disk (`docker system prune` there)")


def test_an_engines_disk_not_told_is_a_warning_or_a_failure_with_the_engine(
        project: ComposeProject, settings: Settings, disk_engine: type[DiskEngine]) -> None:
    """No image there yet, or no df in it: a warning saying so; an engine that does not answer
    fails, pointing at the engine."""
    disk_engine.images = ()
    none = disk_on(project, settings, True)
    assert (none.status, none.detail) == (CheckStatus.WARN,
                                          "not checked: none of the project's images is on the engine yet")
    disk_engine.images, disk_engine.free = ("postgres",), None
    odd = disk_on(project, settings, True)
    assert (odd.status, odd.detail) == (CheckStatus.WARN,
                                        "not checked: `df -Pk /` did not answer in postgres")
    assert disk_on(project, settings, False).status == CheckStatus.FAIL
