"""The tests' blob within its bytes: every test when it fits, else the ones that matter first."""

from __future__ import annotations

import json

from envctl.report import html_blob
from envctl.report.html_blob import blob_text
from envctl.report.html_model import HtmlCase, HtmlRun
from envctl.report.html_parts import lanes_of
from envctl.report.html_text import script_json, size


def _run() -> HtmlRun:
    cases = tuple(HtmlCase(f"t.py::test_{i:02d}", "failed" if i in (7, 12) else "passed", 1.0,
                           message=f"boom {i}" if i in (7, 12) else "") for i in range(20))
    return HtmlRun(run_id="r", state="failed", exit_code=1, counts={}, cases=cases,
                   flaky=frozenset({"t.py::test_15"}))


def _blob(run: HtmlRun, budget: int) -> tuple[dict[str, object], int, int]:
    lanes, lane_of = lanes_of(run.cases)
    text, kept = blob_text(run, lanes, lane_of, 2, budget)
    blob: dict[str, object] = json.loads(text)
    return blob, kept, size(text)


def test_a_blob_that_fits_holds_every_test() -> None:
    """At exactly its size, the blob holds every test, as tests_blob builds it."""
    run = _run()
    lanes, lane_of = lanes_of(run.cases)
    whole = script_json(html_blob.tests_blob(run, lanes, lane_of, 2))
    blob, kept, used = _blob(run, size(whole))
    assert (kept, used, blob["n"]) == (20, size(whole), [f"t.py::test_{i:02d}" for i in range(20)])
    assert (blob["f"], blob["m"]) == ({"7": 0, "12": 1}, {"7": "boom 7", "12": "boom 12"})


def test_a_blob_too_big_keeps_failures_then_flaky_then_the_first_in_order() -> None:
    """Short of room, the blob holds the failures, the flaky test, then the first tests, in
    their order, re-indexed (the failures' numbers and messages follow them), within the budget
    (each test is costed from above: a few bytes of it go unused)."""
    run = _run()
    lanes, lane_of = lanes_of(run.cases)
    kept_five = script_json(html_blob.tests_blob(run, lanes, lane_of, 2, [0, 1, 7, 12, 15]))
    blob, kept, used = _blob(run, size(kept_five) + 16)
    assert used == size(kept_five)
    assert (kept, blob["n"]) == (5, ["t.py::test_00", "t.py::test_01", "t.py::test_07", "t.py::test_12",
                                     "t.py::test_15"])
    assert (blob["o"], blob["k"]) == ("ppffp", "....r")
    assert (blob["f"], blob["m"]) == ({"2": 0, "3": 1}, {"2": "boom 7", "3": "boom 12"})


def test_a_budget_below_an_empty_blob_gives_the_empty_blob() -> None:
    """With no room at all the blob is empty (the page says it holds 0 tests), never broken JSON."""
    blob, kept, _ = _blob(_run(), 10)
    assert (kept, blob["n"], blob["o"], blob["f"]) == (0, [], "", {})
