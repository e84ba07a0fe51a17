"""The on_finish hook's file must be out of the tests' reach: a writable mount of it is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from envctl.docker.models import ServiceSpec
from envctl.errors import ConfigError
from envctl.runs.hook_guard import refuse_a_writable_hook, settings_file
from envctl.settings import load_settings


def test_the_file_a_source_names() -> None:
    """A file for the project's files; none for the environment, a flag or the default."""
    assert settings_file("/p/envctl.toml") == Path("/p/envctl.toml")
    assert settings_file("/p/pyproject.toml [tool.envctl]") == Path("/p/pyproject.toml")
    assert settings_file("env ENVCTL_ON_FINISH") is None
    assert settings_file("flag --timeout") is None
    assert settings_file("default") is None


def spec_with(volumes: list[dict[str, object]]) -> ServiceSpec:
    return ServiceSpec.from_config("test", {"image": "python:3.11-slim", "volumes": volumes})


def test_a_hook_in_a_file_the_tests_can_write_is_refused(tmp_path: Path) -> None:
    """envctl.toml under a read-write mount of the project: refused, saying which mount and how."""
    (tmp_path / "envctl.toml").write_text('on_finish = ["notify-send", "done"]\n')
    settings = load_settings(tmp_path, environ={})
    spec = spec_with([{"type": "bind", "source": str(tmp_path), "target": "/src"}])
    assert spec.writable_binds == (str(tmp_path),)
    with pytest.raises(ConfigError) as caught:
        refuse_a_writable_hook(settings, "test", spec.writable_binds)
    assert str(caught.value) == (
        f"on_finish is set in {tmp_path / 'envctl.toml'}, which the test service 'test' can write "
        f"(it mounts {tmp_path} read-write): the tests could change what envctl runs on this machine")


def test_a_read_only_mount_another_folder_or_the_environment_is_fine(tmp_path: Path) -> None:
    """Mounted `:ro`, a folder that does not hold the file, or the hook from the environment: no refusal."""
    (tmp_path / "envctl.toml").write_text('on_finish = ["notify-send", "done"]\n')
    (tmp_path / "suite").mkdir()
    settings = load_settings(tmp_path, environ={})
    read_only = spec_with([{"type": "bind", "source": str(tmp_path), "target": "/src", "read_only": True}])
    suite_only = spec_with([{"type": "bind", "source": str(tmp_path / "suite"), "target": "/suite"}])
    assert read_only.writable_binds == ()
    refuse_a_writable_hook(settings, "test", read_only.writable_binds)
    refuse_a_writable_hook(settings, "test", suite_only.writable_binds)
    (tmp_path / "envctl.toml").write_text("")
    from_env = load_settings(tmp_path, environ={"ENVCTL_ON_FINISH": "notify-send done"})
    refuse_a_writable_hook(from_env, "test", (str(tmp_path),))
