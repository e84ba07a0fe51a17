"""Following a foreground `envctl test --shards N` (envctl/ui/shards.py) with the control faked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from envctl.runs import control, lifecycle
from envctl.runs.state import RunRecord
from envctl.ui.shards import follow_shards
from tests.unit.run_dirs import OTHER_ID, RUN_ID, make_run


@pytest.fixture
def parent(tmp_path: Path) -> Path:
    """A --shards parent with one running shard."""
    path = make_run(tmp_path, RUN_ID)
    make_run(tmp_path, OTHER_ID)
    lifecycle.add_child(path, OTHER_ID)
    return path


def test_a_line_each_time_the_combined_progress_changes(parent: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The same progress twice is printed once; the parent's record is the answer."""
    def wait_for(path: Path, **kwargs: Any) -> RunRecord:
        assert kwargs["cleaned"] is True
        kwargs["on_tick"](RunRecord.load(path))
        kwargs["on_tick"](RunRecord.load(path))
        return RunRecord.load(path)

    monkeypatch.setattr(control, "wait_for", wait_for)
    assert follow_shards(parent).id == RUN_ID
    assert capsys.readouterr().err == "envctl: shards [None running]: 0/? done, 0 failed\n"


def test_ctrl_c_stops_every_shard(parent: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C asks for the stop, stops the shards, and goes on up; a second one leaves it going."""
    asked: list[str] = []

    def interrupted(_path: Path, **_kwargs: Any) -> RunRecord:
        raise KeyboardInterrupt

    def stop(path: Path) -> RunRecord:
        asked.append(f"stop {path.name}")
        raise KeyboardInterrupt

    monkeypatch.setattr(control, "wait_for", interrupted)
    monkeypatch.setattr(control, "request_stop", lambda path: asked.append(f"request {path.name}"))
    monkeypatch.setattr(control, "stop", stop)
    with pytest.raises(KeyboardInterrupt):
        follow_shards(parent)
    assert asked == [f"request {RUN_ID}", f"stop {RUN_ID}"]
    assert capsys.readouterr().err == "envctl: not waiting for the stop; it goes on\n"
