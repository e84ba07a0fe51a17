"""`--rerun-failed` carries the first run's options over, and drops what selected its tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envctl.runs.rerun import carried_options, recorded_pytest_args


@pytest.mark.parametrize(("args", "kept"), [
    (["-p", "no:randomly", "-o", "xfail_strict=true", "tests/api"],
     ["-p", "no:randomly", "-o", "xfail_strict=true"]),
    (["--reruns", "2", "-n", "4", "--timeout=30", "-x"], ["--reruns", "2", "-n", "4", "--timeout=30", "-x"]),
    (["-k", "slow and not db", "-m", "smoke", "--lf", "--deselect", "t.py::a", "t.py::b"], []),
    (["-kslow", "-pxdist", "-q"], ["-pxdist", "-q"]),
    (["--my-plugin-option", "value", "tests/x_test.py::T::test_a"], ["--my-plugin-option", "value"]),
    (["--strict-markers", "tests/unit"], ["--strict-markers"]),
    (["-v", "--", "-weird-file.py"], ["-v"]),
    (["--dist", "loadfile", "--ff", "--sw", "."], ["--dist", "loadfile"]),
])
def test_options_kept_and_selection_dropped(args: list[str], kept: list[str]) -> None:
    """Options that shape how tests run are kept; paths, node ids, -k, -m, --lf... are not."""
    assert carried_options(args) == kept


def test_a_flag_given_again_is_not_doubled() -> None:
    """`-q` carried and given now stays one `-q` (two would be pytest's quieter `-qq`)."""
    assert carried_options(["-q", "-x", "-p", "no:randomly"], given=["-q"]) == ["-x", "-p", "no:randomly"]


def test_recorded_arguments_come_from_the_start_record(tmp_path: Path) -> None:
    """A run's own start record (host-only) says what it was started with; a --shards parent's
    too; anything unreadable gives none."""
    (tmp_path / "start.json").write_text(json.dumps({"request": {"pytest_args": ["-p", "x", "t.py"]}}))
    assert recorded_pytest_args(tmp_path) == ["-p", "x", "t.py"]
    (tmp_path / "start.json").write_text(json.dumps({"durations_file": "d", "pytest_args": ["-q"]}))
    assert recorded_pytest_args(tmp_path) == ["-q"]
    (tmp_path / "start.json").write_text("not json")
    assert recorded_pytest_args(tmp_path) == []
