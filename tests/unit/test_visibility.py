"""Whether a placed run's engine sees the project folder: asked once per engine with a file made
for the look (and removed), a blind engine refused naming it; a run on this process's engine is
never asked."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from envctl.docker import engine as engine_module
from envctl.errors import EnvironmentFailedError
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
    return SimpleNamespace(engine=engine, engine_name=name, settings=settings,
                           image_for=lambda service: f"img-{service}")


@pytest.fixture(autouse=True)
def engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "Engine", LookingEngine)
    monkeypatch.setattr(visibility, "_SEES", {})
    LookingEngine.asked, LookingEngine.sees_it = [], True


def test_an_engine_that_sees_the_project_is_asked_once(tmp_path: Path) -> None:
    """The look binds a file made for it in the project's .envctl (gone after); the answer is kept."""
    env = environment(tmp_path, "unix:///run/e2/docker.sock", "e2")
    visibility.refuse_a_blind_engine(env, "20260101-000000-abcd")
    visibility.refuse_a_blind_engine(env, "20260101-000000-abce")
    assert LookingEngine.asked == [("unix:///run/e2/docker.sock", True, "img-test", {
        "io.envctl.managed": "true", "io.envctl.run": "20260101-000000-abcd",
        "io.envctl.role": "visibility-probe"})]
    assert list((tmp_path / ".envctl").iterdir()) == []


def test_a_blind_engine_is_refused_naming_it(tmp_path: Path) -> None:
    """Not seen: an environment failure (the shard ends infra-error; --retry-infra runs it elsewhere)."""
    LookingEngine.sees_it = False
    with pytest.raises(EnvironmentFailedError, match=f"engine e3 does not see this machine's {tmp_path} "):
        visibility.refuse_a_blind_engine(environment(tmp_path, "unix:///run/e3/docker.sock", "e3"), "r")


def test_this_processs_engine_is_never_asked(tmp_path: Path) -> None:
    """No engine placed (one engine, as always): nothing asked."""
    visibility.refuse_a_blind_engine(environment(tmp_path, None, None), "r")
    visibility.refuse_a_blind_engine(environment(tmp_path, "unix:///var/run/docker.sock", None), "r")
    assert LookingEngine.asked == []
