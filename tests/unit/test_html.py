"""The HTML report: static essentials, escaping of hostile input, the JSON blob, and assembly."""

from __future__ import annotations

import json
import re
from pathlib import Path

from envctl.history import Outcome, command_key, load, record
from envctl.report.html import PAGE_CAP, render_html
from envctl.report.html_model import HtmlCase, HtmlEnv, HtmlRun, HtmlShard, LogLine, TestHistory
from envctl.report.html_parts import lanes_of
from envctl.report.html_text import esc, esc_fit, script_json, size
from envctl.runs.html_data import html_run_from
from envctl.runs.state import Counts, Limits, RunRecord, RunState

EVIL = '<script>alert(1)</script></textarea><a href="javascript:alert(2)">x</a>\x1b[31m\x00'
T0 = 1_700_000_000.0


def _run(**changes: object) -> HtmlRun:
    cases = (
        HtmlCase("tests/test_a.py::test_ok", "passed", 0.5, start=T0, stop=T0 + 0.5, worker="gw0",
                 shard="1/2"),
        HtmlCase(f"tests/test_a.py::test_{EVIL}", "failed", 1.0, message=EVIL, traceback=f"Traceback\n{EVIL}",
                 system_out="printed " + EVIL, start=T0 + 1, stop=T0 + 2, worker="gw1", shard="1/2"),
        HtmlCase("tests/test_b.py::test_flaky", "passed", 0.2, start=T0, stop=T0 + 0.2, worker="gw0",
                 shard="2/2"),
    )
    values: dict[str, object] = {
        "run_id": "20260101-000000-abcd", "state": "failed", "exit_code": 1,
        "counts": {"total": 3, "passed": 2, "failed": 1, "errors": 0, "skipped": 0, "flaky": 1},
        "duration": 3.0, "limits": {"memory": 1 << 30, "cpus": 2.0, "pids": 100},
        "environment": HtmlEnv("proj", "test", "Docker 27", (("db", "postgres:16"),)),
        "command": ("pytest", "-n", "2"),
        "shards": (HtmlShard("20260101-000001-abce", "1/2", "failed", 1, {"passed": 1, "failed": 1}, 2.0),),
        "cases": cases, "flaky": frozenset({"tests/test_b.py::test_flaky"}),
        "log": (LogLine(T0 + 0.1, "before"), LogLine(T0 + 1.5, f"during {EVIL}"), LogLine(T0 + 9, "after")),
        "history": {"tests/test_a.py::test_ok": TestHistory("ppf", 0.4, 0.9)},
        "new_failures": (cases[1].nodeid,),
    }
    values.update(changes)
    return HtmlRun(**values)  # type: ignore[arg-type]


def _blob(page: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="envctl-data">(.*?)</script>', page, re.S)
    assert found is not None
    data: dict[str, object] = json.loads(found.group(1))
    return data


def test_hostile_strings_never_become_markup() -> None:
    """Names, messages, tracebacks, output and log lines are escaped: no injected tag survives."""
    page = render_html(_run(), generated_at=0.0)
    assert "<script>alert" not in page
    assert "</textarea>" not in page
    assert 'href="javascript:' not in page
    assert "\x00" not in page and "\x1b" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\\x1b[31m\\x00" in page
    assert page.count("<script") == 2  # the data blob and envctl's own script, nothing else


def test_blob_cannot_close_its_script_element() -> None:
    """The JSON blob escapes <, >, & and U+2028/2029, and still parses back to the same strings."""
    text = script_json({"s": "</script><!--&\u2028\u2029"})
    assert text == '{"s":"\\u003c/script\\u003e\\u003c!--\\u0026\\u2028\\u2029"}'
    assert json.loads(text) == {"s": "</script><!--&\u2028\u2029"}
    page = render_html(_run(), generated_at=0.0)
    assert _blob(page)["n"] == [c.nodeid for c in _run().cases]


def test_essentials_are_static_html() -> None:
    """State, counts and the failures list are in the page without any script."""
    page = render_html(_run(), generated_at=0.0)
    assert '<span class="state s-failed" id="state">failed</span>' in page
    assert '<div class="count c-passed"><b>2</b> passed</div>' in page
    assert '<div class="count c-flaky"><b>1</b> flaky</div>' in page
    assert "<h2>Failures (1)</h2>" in page
    assert '<details class="failure" id="f0">' in page
    assert "<td>pytest -n 2</td>" not in page and "<code>pytest -n 2</code>" in page
    assert "<code>postgres:16</code>" in page
    assert "<h2>New failures (against the last run of the same command) (1)</h2>" in page


def test_failure_shows_the_log_lines_written_while_it_ran() -> None:
    """Only the log lines that arrived between the failure's start and stop are shown with it."""
    page = render_html(_run(), generated_at=0.0)
    details = page[page.index('id="f0"'):page.index("</details>")]
    assert "Log lines while it ran (1)" in details
    assert "during &lt;script&gt;" in details
    assert "before" not in details and "after" not in details


def test_lanes_per_shard_and_worker() -> None:
    """The timeline has one lane per shard and worker, sorted."""
    page = render_html(_run(), generated_at=0.0)
    assert re.findall(r'<span class="lane-name">([^<]*)</span>', page) == [
        "shard 1/2 · gw0", "shard 1/2 · gw1", "shard 2/2 · gw0"]
    blob = _blob(page)
    assert (blob["l"], blob["s"], blob["e"], blob["o"], blob["k"]) == ([0, 1, 2], [0, 1000, 0],
                                                                       [500, 2000, 200], "pfp", ".nr")


def test_history_columns_in_the_blob() -> None:
    """Strips and p50/p95 (ms) travel in the blob for the tests the history knows."""
    blob = _blob(render_html(_run(), generated_at=0.0))
    assert (blob["h"], blob["p"]) == (["ppf", "", ""], [[400, 900], 0, 0])


def test_no_timing_says_so() -> None:
    """Without start times the timeline says it has none, and no lane is drawn."""
    cases = (HtmlCase("t.py::a", "passed", 1.0),)
    page = render_html(_run(cases=cases, log=(), history={}, new_failures=()), generated_at=0.0)
    assert "No start and stop times" in page and 'class="lane"' not in page
    assert _blob(page)["h"] == []


def test_no_network_by_policy() -> None:
    """The page's CSP fetches nothing and allows only envctl's script, by hash; nothing links out."""
    page = render_html(_run(), generated_at=0.0)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy is not None
    assert policy.group(1).startswith("default-src 'none'; script-src 'sha256-")
    assert "http://" not in page and "https://" not in page and " src=" not in page


def test_esc_cuts_long_text() -> None:
    """Over its cap, text is cut and the cut said."""
    assert esc("a<b" * 4, cap=5) == "a&lt;ba&lt;\n… (7 more characters cut)"


def test_lone_surrogates_do_not_break_writing() -> None:
    """A lone surrogate from a JSON event becomes '?' so the page encodes as UTF-8."""
    case = HtmlCase("t.py::a\ud800", "failed", 1.0, message="m\udfff")
    page = render_html(_run(cases=(case,), log=(), history={}, new_failures=()), generated_at=0.0)
    page.encode("utf-8")
    assert "t.py::a?" in page


def _record(run_id: str = "20260101-000000-abcd") -> RunRecord:
    return RunRecord(id=run_id, project="p", service="test", command=["pytest"],
                     limits=Limits(1 << 30, 1.0, 100),
                     state=RunState.FAILED, started_at=T0, finished_at=T0 + 5, pytest_exit=1,
                     counts=Counts(total=2, passed=1, failed=1))


def test_assembly_from_a_run_dir(tmp_path: Path) -> None:
    """JUnit, events (times, flaky), the log and its time index, and the history make one HtmlRun."""
    run_dir = tmp_path / "20260101-000000-abcd"
    run_dir.mkdir()
    (run_dir / "junit.xml").write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py" time="0.5"/>'
        '<testcase classname="tests.test_a" name="test_bad" file="tests/test_a.py" time="1.0">'
        '<failure message="boom">Traceback\nAssertionError: boom</failure>'
        "<system-out>hello</system-out></testcase></testsuite></testsuites>")
    events = [{"t": T0, "kind": "start", "nodeid": "tests/test_a.py::test_ok"},
              {"t": T0 + 0.5, "kind": "result", "nodeid": "tests/test_a.py::test_ok", "outcome": "passed",
               "flaky": True},
              {"t": T0 + 1, "kind": "start", "nodeid": "tests/test_a.py::test_bad"},
              {"t": T0 + 2, "kind": "result", "nodeid": "tests/test_a.py::test_bad", "outcome": "failed"}]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events) + "not json\n")
    (run_dir / "output.log").write_bytes(b"start\nin the failure\nlater\n")
    (run_dir / "output.times").write_text(f"0 {T0}\n6 {T0 + 1.2}\n21 {T0 + 4}\n")
    store = tmp_path / "history.jsonl"
    record(store, "20251231-000000-aaaa", command_key(["pytest"]), "c",
           [Outcome("tests/test_a.py::test_bad", "passed", 0.9)])
    run = html_run_from(run_dir, _record(), history=load(store))
    bad = run.cases[1]
    assert (bad.nodeid, bad.outcome, bad.message, bad.system_out) == ("tests/test_a.py::test_bad", "failed",
                                                                      "boom", "hello")
    assert (bad.start, bad.stop, run.cases[0].start) == (T0 + 1, T0 + 2, T0)
    assert run.log == (LogLine(T0 + 1.2, "in the failure"),)
    assert run.flaky == frozenset({"tests/test_a.py::test_ok"})
    assert run.new_failures == ("tests/test_a.py::test_bad",)
    assert run.history == {"tests/test_a.py::test_bad": TestHistory("p", 0.9, 0.9)}
    assert (run.counts["passed"], run.counts["failed"], run.exit_code) == (1, 1, 1)
    assert "in the failure" in render_html(run, generated_at=0.0)


def test_overlapping_tests_without_workers_get_inferred_lanes(tmp_path: Path) -> None:
    """Events that name no worker but overlap in time are laid out in as few lanes as fit."""
    run_dir = tmp_path / "20260101-000000-abcd"
    run_dir.mkdir()
    (run_dir / "junit.xml").write_text(
        '<testsuites><testsuite name="pytest">'
        + "".join(f'<testcase classname="t" name="test_{n}" file="t.py" time="1"/>' for n in "abc")
        + "</testsuite></testsuites>")
    events = [(T0, "start", "a"), (T0 + 0.1, "start", "b"), (T0 + 1, "result", "a"), (T0 + 1.1, "start", "c"),
              (T0 + 1.2, "result", "b"), (T0 + 2, "result", "c")]
    (run_dir / "events.jsonl").write_text("".join(
        json.dumps({"t": t, "kind": k, "nodeid": f"t.py::test_{n}", "outcome": "passed"}) + "\n"
        for t, k, n in events))
    run = html_run_from(run_dir, _record())
    assert [c.worker for c in run.cases] == ["lane 1", "lane 2", "lane 1"]


def test_esc_fit_bounds_the_escaped_bytes() -> None:
    """A text is cut to its character cap and to a cap on its escaped bytes (a quote is 6), the cut said."""
    assert esc_fit("abcdef", 4, 100) == "abcd\n… (2 more characters cut)"
    assert esc_fit("abcdef", 4, 100, end=True) == "(the first 2 characters cut)\ncdef"
    fitted = esc_fit('"' * 1000, 1000, 600, end=True)
    assert (fitted, size(fitted)) == ("(the first 913 characters cut)\n" + "&quot;" * 87, 553)
    assert esc_fit("<" * 10, 100, 3) == ""


def _hostile_run(failures: int = 2500) -> HtmlRun:
    """Failures whose every text is at its cap and made of the characters escaping grows most."""
    log = tuple(LogLine(T0 + i * 0.01, "<" * 2000) for i in range(200))
    cases = tuple(
        HtmlCase(f"t.py::test_{i}_" + '"' * 980, "failed", 1.0, message="<" * 4000, traceback="&" * 70_000,
                 system_out='"' * 70_000, system_err="'" * 70_000, start=T0, stop=T0 + 2, worker="gw0")
        for i in range(failures))
    names = tuple(c.nodeid for c in cases[:300])
    return _run(cases=cases, log=log, history={}, new_failures=names, flaky=frozenset(names),
                flaky_history=names, counts={"total": failures, "passed": 0, "failed": failures, "errors": 0})


def test_a_hostile_run_stays_under_the_page_cap() -> None:
    """2,500 failures with every text at its cap, escaping sixfold: the page stays under 15 MB,
    says what it left out, and its counts stay exact."""
    page = render_html(_hostile_run(), generated_at=0.0)
    assert size(page) <= PAGE_CAP
    assert "<h2>Failures (2500)</h2>" in page
    assert '<div class="count c-failed"><b>2500</b> failed</div>' in page
    assert "<h2>All tests (2500)</h2>" in page
    shown = page.count('<details class="failure"')
    more = re.search(r'<p class="muted" id="failures-more">… and (\d+) more failures \((\d+) are shown: '
                     r"the page is kept under 15 MB;", page)
    assert more is not None
    assert (int(more.group(1)) + shown, int(more.group(2))) == (2500, shown)
    left_out = "Left out (the page is kept under 15 MB): traceback, captured output or log lines."
    assert page.count(left_out) == shown
    kept = len(_blob(page)["n"])  # type: ignore[arg-type]  # a list
    assert 0 < kept < 2500
    assert (f'<p class="warn" id="tests-cut">The list and the timeline hold {kept} of 2500 tests, failures '
            "first (the page is kept under 15 MB); the counts above are exact.</p>") in page


def test_lanes_past_their_cap_share_the_last() -> None:
    """250 worker names (hostile events) give 200 lanes; the tests of the last 51 share one."""
    cases = tuple(HtmlCase(f"t.py::test_{i}", "passed", 1.0, start=T0, stop=T0 + 1, worker=f"gw{i}")
                  for i in range(250))
    lanes, lane_of = lanes_of(cases)
    assert (len(lanes), lanes[:2], lanes[198:]) == (200, ["gw0", "gw1"], ["gw198", "51 more lanes"])
    assert (lane_of[0], lane_of[198], lane_of[199], lane_of[249]) == (0, 198, 199, 199)


def test_shards_on_engines_name_each_engine_and_the_parent_names_them_all(tmp_path: Path) -> None:
    """A parent whose shards ran on two engines: the shards table has an engine column, the
    facts table lists both engines once each; shards on the one engine have no such column."""
    parent = _record()
    children = [RunRecord(id=f"20260101-000000-abc{k}", project="p", service="test", command=["pytest"],
                          limits=Limits(1, 1.0, 1), state=RunState.PASSED, pytest_exit=0, shard=f"{k}/3",
                          engine_name=name) for k, name in ((1, "default"), (2, "e2"), (3, "e2"))]
    run_dir = tmp_path / parent.id
    run_dir.mkdir()
    run = html_run_from(run_dir, parent, children=children)
    assert [s.engine for s in run.shards] == ["default", "e2", "e2"]
    page = render_html(run, generated_at=0.0)
    assert "<tr><th>Engine</th><td>default, e2</td></tr>" in page
    assert "<th>run</th><th>engine</th><th>state</th>" in page
    assert "<td><code>20260101-000000-abc2</code></td><td><code>e2</code></td>" in page
    page = render_html(_run(), generated_at=0.0)
    assert "<th>engine</th>" not in page
