"""Whether a placed run's engine sees the project folder: asked once per engine with a file made
for the look (and removed); a run on this process's engine is never asked."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from envctl.docker import engine as engine_module
from envctl.runs import visibility


class LookingEngine:
    """Sees a file when ``sees_it`` says so; keeps what it was asked."""

    sees_it: ClassVar[bool] = True
    asked: ClassVar[list[tuple[str | None, bool, str, dict[str, str]]]] = []

    def __init__(self, timeout: float, *, host: str | None = None) -> None:
        self.host = host

    def __enter__(self) -> LookingEngine:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def sees(self, path: str, image: str, *, labels: dict[str, str]) -> bool:
        LookingEngine.asked.append((self.host, Path(path).exists(), image, labels))
        return LookingEngine.sees_it


def environment(tmp_path: Path, engine: str | None, name: str | None) -> Any:
    settings = SimpleNamespace(project_dir=tmp_path, test_service="test")
    return SimpleNamespace(engine=engine, engine_name=name, settings=settings, project="p-s1-abcdef",
                           isolated_for="abcdef", image_for=lambda service: f"img-{service}",
                           tags=lambda: {"io.envctl.managed": "true", "io.envctl.project": "p-s1-abcdef",
                                         "io.envctl.isolated": "true", "io.envctl.run": "abcdef",
                                         "io.envctl.checkout": "me:/src/p"})


@pytest.fixture(autouse=True)
def engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "Engine", LookingEngine)
    monkeypatch.setattr(visibility, "_SEES", {})
    LookingEngine.asked, LookingEngine.sees_it = [], True


def test_an_engine_that_sees_the_project_is_asked_once(tmp_path: Path) -> None:
    """The look binds a file made for it in the project's .envctl (gone after); the answer is kept."""
    env = environment(tmp_path, "unix:///run/e2/docker.sock", "e2")
    assert visibility.sees_project(env, "20260101-000000-abcd") is True
    assert visibility.sees_project(env, "20260101-000000-abce") is True
    assert LookingEngine.asked == [("unix:///run/e2/docker.sock", True, "img-test", {
        "io.envctl.managed": "true", "io.envctl.project": "p-s1-abcdef", "io.envctl.isolated": "true",
        "io.envctl.run": "20260101-000000-abcd", "io.envctl.checkout": "me:/src/p",
        "io.envctl.role": "visibility-probe"})]
    assert list((tmp_path / ".envctl").iterdir()) == []


def test_a_blind_engine_is_said_blind(tmp_path: Path) -> None:
    """Not seen: False (the run's folders are then shipped there)."""
    LookingEngine.sees_it = False
    assert visibility.sees_project(environment(tmp_path, "unix:///run/e3/docker.sock", "e3"), "r") is False


def test_a_project_that_takes_no_file_cannot_be_told(tmp_path: Path) -> None:
    """No .envctl can be made (a read-only checkout): None, nothing asked."""
    (tmp_path / ".envctl").write_text("a file where the folder would be")
    assert visibility.sees_project(environment(tmp_path, "unix:///run/e3/docker.sock", "e3"), "r") is None
    assert LookingEngine.asked == []


def test_this_processs_engine_is_never_asked(tmp_path: Path) -> None:
    """No engine placed (one engine, as always): nothing asked."""
    assert visibility.sees_project(environment(tmp_path, None, None), "r") is None
    assert visibility.sees_project(environment(tmp_path, "unix:///var/run/docker.sock", None), "r") is None
    assert LookingEngine.asked == []
