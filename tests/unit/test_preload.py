"""The SDK imported and the API version agreed ahead of time, in a spare thread, once."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from envctl.docker import preload, timeouts
from envctl.errors import EngineUnavailableError


def test_preloading_agrees_on_the_version_under_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """One client, with the preload deadline, closed at once."""
    made: list[object] = []
    closed: list[bool] = []

    def connect(timeout: object) -> Any:
        made.append(timeout)
        return SimpleNamespace(close=lambda: closed.append(True))

    monkeypatch.setattr(preload, "connect", connect)
    preload.preload_sdk()
    assert made == [timeouts.PRELOAD]
    assert closed == [True]


def test_preloading_keeps_quiet_about_a_dead_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's own Engine() will say what is wrong, in its own words and time."""
    def connect(_timeout: object) -> Any:
        raise EngineUnavailableError("no engine")

    monkeypatch.setattr(preload, "connect", connect)
    preload.preload_sdk()


class Threads:
    """Records the threads started instead of starting them."""

    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> SimpleNamespace:
        return SimpleNamespace(start=lambda: self.started.append(kwargs))


def test_the_background_preload_starts_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second call, or an SDK already imported, starts no thread."""
    threads = Threads()
    monkeypatch.setattr(threading, "Thread", threads)
    monkeypatch.setattr(preload, "_preload_started", [False])
    monkeypatch.setattr(preload, "sys", SimpleNamespace(modules={}))
    preload.preload_sdk_in_background()
    preload.preload_sdk_in_background()
    assert [(t["target"], t["daemon"], t["name"]) for t in threads.started] == [
        (preload.preload_sdk, True, "import-sdk")]


def test_an_sdk_already_imported_is_not_preloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``docker`` in sys.modules there is nothing to save."""
    threads = Threads()
    monkeypatch.setattr(threading, "Thread", threads)
    monkeypatch.setattr(preload, "_preload_started", [False])
    monkeypatch.setattr(preload, "sys", SimpleNamespace(modules={"docker": object()}))
    preload.preload_sdk_in_background()
    assert threads.started == []
