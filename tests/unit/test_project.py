"""Compose files and profiles as compose finds them: settings, COMPOSE_* variables, `.env`."""

from __future__ import annotations

from pathlib import Path

import pytest

from envctl.docker.models import ServiceSpec
from envctl.env.project import active_profiles, compose_files, env_files, secret_sources
from envctl.errors import ConfigError
from envctl.settings import Settings


def touch(*paths: Path) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("services: {}\n")


def test_compose_file_and_its_separator(tmp_path: Path) -> None:
    """COMPOSE_FILE names the files (in order), split on COMPOSE_PATH_SEPARATOR."""
    touch(tmp_path / "compose.yaml", tmp_path / "base.yml", tmp_path / "ci" / "extra.yml")
    settings = Settings(project_dir=tmp_path)
    assert compose_files(settings, {"COMPOSE_FILE": "base.yml:ci/extra.yml"}) == \
        [tmp_path / "base.yml", tmp_path / "ci" / "extra.yml"]
    assert compose_files(settings, {"COMPOSE_FILE": "base.yml;ci/extra.yml",
                                    "COMPOSE_PATH_SEPARATOR": ";"}) == \
        [tmp_path / "base.yml", tmp_path / "ci" / "extra.yml"]
    assert compose_files(settings, {}) == [tmp_path / "compose.yaml"]


def test_compose_file_from_the_projects_env_file(tmp_path: Path) -> None:
    """As compose does, COMPOSE_FILE may come from `.env`; the environment's wins."""
    touch(tmp_path / "a.yml", tmp_path / "b.yml")
    (tmp_path / ".env").write_text("# comment\nexport COMPOSE_FILE='a.yml'\n")
    settings = Settings(project_dir=tmp_path)
    assert compose_files(settings, {}) == [tmp_path / "a.yml"]
    assert compose_files(settings, {"COMPOSE_FILE": "b.yml"}) == [tmp_path / "b.yml"]


def test_the_setting_beats_compose_file_and_a_missing_file_is_named(tmp_path: Path) -> None:
    """compose_files in settings wins; a file COMPOSE_FILE names that is not there is an error."""
    touch(tmp_path / "mine.yml")
    assert compose_files(Settings(project_dir=tmp_path, compose_files=("mine.yml",)),
                         {"COMPOSE_FILE": "other.yml"}) == [tmp_path / "mine.yml"]
    with pytest.raises(ConfigError, match="COMPOSE_FILE: compose file not found"):
        compose_files(Settings(project_dir=tmp_path), {"COMPOSE_FILE": "missing.yml"})


def test_active_profiles_from_compose_profiles_and_the_setting(tmp_path: Path) -> None:
    """COMPOSE_PROFILES (comma-separated) plus the `profiles` setting, each once."""
    settings = Settings(project_dir=tmp_path, profiles=("debug", "db"))
    assert active_profiles(settings, {"COMPOSE_PROFILES": "db, search"}) == ("db", "search", "debug")
    assert active_profiles(Settings(project_dir=tmp_path), {}) == ()


@pytest.mark.parametrize(("profiles", "active", "expected"), [
    ((), (), True), (("test",), (), False), (("test",), ("test",), True),
    (("a", "b"), ("b",), True), (("a",), ("*",), True)])
def test_a_service_is_active_as_compose_decides(profiles: tuple[str, ...], active: tuple[str, ...],
                                                expected: bool) -> None:
    """No profiles: always; otherwise when one of its profiles is active (or all, `*`)."""
    spec = ServiceSpec.from_config("s", {"image": "x", "profiles": list(profiles)})
    assert spec.active(active) is expected


def test_a_missing_env_file_is_a_config_error(tmp_path: Path) -> None:
    """`env_files` naming a file that is not there (or a folder): exit 11 naming it, not a crash."""
    (tmp_path / "real.env").write_text("A=1\n")
    (tmp_path / "folder.env").mkdir()
    settings = Settings(project_dir=tmp_path, env_files=("real.env", "gone.env", "folder.env"))
    with pytest.raises(ConfigError, match=r"env_files: not a file: .*gone\.env, .*folder\.env"):
        env_files(settings)
    assert env_files(Settings(project_dir=tmp_path, env_files=("real.env",))) == (tmp_path / "real.env",)


def test_secrets_come_from_the_env_files_compose_reads(tmp_path: Path) -> None:
    """The env_files when set; else the `.env` beside the first compose file (compose's project
    directory) and envctl's project folder's."""
    touch(tmp_path / "compose" / "compose.yaml")
    assert secret_sources(Settings(project_dir=tmp_path)) == [tmp_path / ".env",
                                                              tmp_path / "compose" / ".env"]
    assert secret_sources(Settings(project_dir=tmp_path, env_files=("ci.env",))) == [tmp_path / "ci.env"]
