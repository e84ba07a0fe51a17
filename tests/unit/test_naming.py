"""The names envctl gives a project's things: the project, its copies, images, start locks."""

from __future__ import annotations

from pathlib import Path

from envctl.env.naming import engine_identity, image_name, isolated_name, project_name, start_lock_name


def test_a_declared_name_wins_over_the_folder(tmp_path: Path) -> None:
    """compose's rule: the declared name (normalized), else the first file's folder."""
    folder = tmp_path / "My Shop"
    folder.mkdir()
    assert project_name("Shop_2", folder / "compose.yaml") == "shop_2"
    assert project_name(None, folder / "compose.yaml") == "myshop"
    assert project_name("", folder / "compose.yaml") == "myshop"


def test_isolated_projects_and_images() -> None:
    """A throwaway project is named after the user's; a built image after its project."""
    assert isolated_name("shop", "a1b2c3") == "shop-iso-a1b2c3"
    assert image_name("postgres:16", "shop", "db") == "postgres:16"
    assert image_name(None, "shop", "api") == "shop-api"


def test_the_engine_is_named_by_its_host_else_its_context() -> None:
    """DOCKER_HOST wins; without it, the context (default when none is set)."""
    assert engine_identity({"DOCKER_HOST": "tcp://ci:2376", "DOCKER_CONTEXT": "x"}) == "tcp://ci:2376"
    assert engine_identity({"DOCKER_CONTEXT": "remote"}) == "context:remote"
    assert engine_identity({}) == "context:default"


def test_a_start_lock_per_engine_and_project() -> None:
    """One lock name per (engine, project); the same pair gives the same name."""
    here = start_lock_name("shop", {})
    assert here == start_lock_name("shop", {"DOCKER_CONTEXT": "default"})
    assert here.endswith(".start.lock")
    assert len(here) == 32 + len(".start.lock")
    assert here != start_lock_name("other", {})
    assert here != start_lock_name("shop", {"DOCKER_HOST": "tcp://ci:2376"})
