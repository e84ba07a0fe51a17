"""The plugin's collected ids and a resume's selection: on values, and with a real pytest in a
subprocess (no Docker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envctl.pytest_plugin import envctl_select
from envctl.pytest_plugin.envctl_select import collected_lines, read_selection, select
from tests.unit.test_pytest_plugin import run_pytest


def test_ids_go_in_chunks_of_bounded_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """At most IDS_PER_EVENT ids a line, and a line's ids within EVENT_CHARS characters."""
    monkeypatch.setattr(envctl_select, "IDS_PER_EVENT", 3)
    monkeypatch.setattr(envctl_select, "EVENT_CHARS", 10)
    assert list(collected_lines(["a", "b", "c", "d"])) == [["a", "b", "c"], ["d"]]
    assert list(collected_lines(["aaaaaa", "bbbbbb", "c"])) == [["aaaaaa"], ["bbbbbb", "c"]]
    assert list(collected_lines([])) == []


def test_at_most_ids_cap_ids_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past IDS_CAP the list stops: the host sees it is shorter than the total."""
    monkeypatch.setattr(envctl_select, "IDS_CAP", 2)
    assert list(collected_lines(["a", "b", "c"])) == [["a", "b"]]


def test_a_selection_that_cannot_be_read_selects_nothing(tmp_path: Path) -> None:
    """Missing, not JSON, not a list: no test is selected (a resume never reruns what ran);
    only strings count."""
    assert read_selection(str(tmp_path / "missing")) == set()
    (tmp_path / "bad").write_text("{")
    assert read_selection(str(tmp_path / "bad")) == set()
    (tmp_path / "dict").write_text('{"a": 1}')
    assert read_selection(str(tmp_path / "dict")) == set()
    (tmp_path / "ok").write_text('["a", 1, "b"]')
    assert read_selection(str(tmp_path / "ok")) == {"a", "b"}


class _Item:
    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid


class _Config:
    def __init__(self) -> None:
        self.deselected: list[str] = []
        config = self

        class Hook:
            @staticmethod
            def pytest_deselected(items: list[_Item]) -> None:
                config.deselected += [item.nodeid for item in items]

        self.hook = Hook()


def test_select_keeps_exactly_the_named_tests_and_deselects_the_rest(tmp_path: Path) -> None:
    """The items named are kept in pytest's order; the others are reported deselected."""
    path = tmp_path / "select.json"
    path.write_text(json.dumps(["t.py::c", "t.py::a", "t.py::gone"]))
    config = _Config()
    items = [_Item("t.py::a"), _Item("t.py::b"), _Item("t.py::c")]
    assert [i.nodeid for i in select(config, items, str(path))] == ["t.py::a", "t.py::c"]
    assert config.deselected == ["t.py::b"]


def test_a_resumed_pytest_runs_only_the_selection_and_lists_it(tmp_path: Path) -> None:
    """ENVCTL_SELECT: pytest runs exactly the named tests (the rest deselected); the events say
    what it collected, ids and all."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    selection = tmp_path / "select.json"
    selection.write_text(json.dumps(["test_suite.py::test_fail", "test_suite.py::test_skip"]))
    result = run_pytest(tmp_path, run_dir, extra_env={"ENVCTL_SELECT": str(selection)})
    assert result.returncode == 1
    assert "1 failed, 1 skipped, 2 deselected" in result.stdout
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in events[:3]] == ["session", "collected", "tests"]
    assert (events[1]["total"], events[2]["ids"]) == \
        (2, ["test_suite.py::test_fail", "test_suite.py::test_skip"])


def test_a_plain_run_lists_everything_it_collected(tmp_path: Path) -> None:
    """Without a selection every collected test is listed, in pytest's order."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_pytest(tmp_path, run_dir)
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    listed = [e for e in events if e["kind"] == "tests"]
    assert [n for e in listed for n in e["ids"]] == [
        "test_suite.py::test_pass", "test_suite.py::test_fail", "test_suite.py::test_skip",
        "test_suite.py::test_error"]
