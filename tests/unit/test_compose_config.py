"""The compose configuration's cache: keyed by every file compose reads, so that a change in an
included, extended or env file is read again (and the refusal of unsafe services never judges a
stale configuration); uncached when a reference cannot be followed (real files, no engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from envctl.env.compose_config import cached_config, config_key

SAFE = {"name": "p", "services": {"test": {"image": "python"}}}
UNSAFE = {"name": "p", "services": {"test": {"image": "python", "privileged": True}}}


class Reader:
    """`compose config` as a stand-in: what it answers now, and how often it was asked."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] = SAFE
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return self.answer


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    (tmp_path / "state").mkdir()
    (tmp_path / "compose.yaml").write_text(
        "include:\n  - parts/db.yaml\nservices:\n  test:\n    image: python\n"
        "    extends:\n      file: common.yaml\n      service: base\n    env_file:\n      - test.env\n")
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "db.yaml").write_text("services:\n  db:\n    image: postgres\n")
    (tmp_path / "common.yaml").write_text("services:\n  base:\n    image: python\n")
    (tmp_path / "test.env").write_text("A=1\n")
    return tmp_path


@pytest.mark.parametrize(("changed", "text"), [
    ("parts/db.yaml", "services:\n  db:\n    image: postgres\n    privileged: true\n"),
    ("common.yaml", "services:\n  base:\n    image: python\n    privileged: true\n"),
    ("test.env", "A=2\n"),
    ("parts/.env", "TAG=2\n"),
])
def test_a_change_in_a_file_compose_reads_changes_the_key(project: Path, changed: str, text: str) -> None:
    """An included file, an extended file, a service's env file, the included project's .env."""
    files = [project / "compose.yaml"]
    before = config_key(files)
    assert before is not None
    (project / changed).write_text(text)
    assert config_key(files) not in (None, before)


def test_the_refusal_sees_a_change_made_in_an_included_file(project: Path) -> None:
    """privileged added in an included file: the cache is not taken, compose is read again,
    and the test service is seen as it now is."""
    (project / "compose.yaml").write_text("include:\n  - suite/test.yaml\n")
    (project / "suite").mkdir()
    (project / "suite" / "test.yaml").write_text("services:\n  test:\n    image: python\n")
    files, state, read = [project / "compose.yaml"], project / "state", Reader()
    assert cached_config(files, state, read).services["test"].unsafe == ()
    assert cached_config(files, state, read).services["test"].unsafe == ()
    assert read.calls == 1
    (project / "suite" / "test.yaml").write_text("services:\n  test:\n    image: python\n"
                                                 "    privileged: true\n")
    read.answer = UNSAFE
    assert cached_config(files, state, read).services["test"].unsafe == (("privileged", "privileged: true"),)
    assert read.calls == 2


def test_one_cached_configuration_is_judged_against_each_engines_socket(project: Path) -> None:
    """A bind of e2's socket is nothing to this process's engine, and the handover of e2 to a
    shard placed on e2: the same cache entry, judged for the engine asked about."""
    (project / "compose.yaml").write_text("services:\n  test:\n    image: python\n")
    read = Reader()
    read.answer = {"name": "p", "services": {"test": {"image": "python", "volumes": [
        {"type": "bind", "source": "/run/envctl-e2", "target": "/e2"}]}}}
    files, state = [project / "compose.yaml"], project / "state"
    assert cached_config(files, state, read).services["test"].unsafe == ()
    on_e2 = cached_config(files, state, read, docker_host="unix:///run/envctl-e2/docker.sock")
    assert on_e2.services["test"].unsafe == (("docker-socket", "volumes: /run/envctl-e2"),)
    assert read.calls == 1


def test_an_unfollowable_reference_is_never_cached(project: Path) -> None:
    """An interpolated env_file path: no key, compose read every time, nothing written."""
    (project / "compose.yaml").write_text("services:\n  test:\n    image: python\n"
                                          "    env_file: ${ENV_DIR}/test.env\n")
    files, state, read = [project / "compose.yaml"], project / "state", Reader()
    assert config_key(files) is None
    for _ in range(3):
        cached_config(files, state, read)
    assert read.calls == 3
    assert list(state.iterdir()) == []


def test_the_key_covers_the_variables_read_files_interpolate_and_the_reduced_forms_version(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable an included file interpolates changes the key; so does the reduced form's
    version (an earlier envctl's entries, which kept fewer keys, are never taken)."""
    from envctl.env import compose_config  # noqa: PLC0415

    (project / "parts" / "db.yaml").write_text("services:\n  db:\n    image: postgres:${DB_TAG}\n")
    files = [project / "compose.yaml"]
    monkeypatch.setenv("DB_TAG", "16")
    first = config_key(files)
    monkeypatch.setenv("DB_TAG", "17")
    second = config_key(files)
    monkeypatch.setattr(compose_config, "REDUCED_FORM", b"reduced-form-1\0")
    assert len({first, second, config_key(files)}) == 3


def test_env_files_named_by_compose_env_files_are_in_the_key(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """COMPOSE_ENV_FILES (compose's --env-file from the environment): their content counts."""
    (project / "ci.env").write_text("TAG=1\n")
    monkeypatch.setenv("COMPOSE_ENV_FILES", f"{project / 'ci.env'}")
    files = [project / "compose.yaml"]
    before = config_key(files)
    (project / "ci.env").write_text("TAG=2\n")
    assert config_key(files) not in (None, before)
