"""The HTML report in a real browser (Chromium through Playwright): failures open on a click with
their log lines, lanes per shard and worker, the filter, no console error, no request at all,
and hostile strings shown as text; on a synthesized run and on a real one (`envctl test --shards 2
-- -n 2` with failures, a flaky test and markup in a message). Skips when Chromium or Playwright
is missing. Screenshots are kept in each test's tmp_path."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from envctl.report.html import render_html
from envctl.report.html_model import HtmlCase, HtmlEnv, HtmlRun, HtmlShard, LogLine, TestHistory

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")

T0 = 1_700_000_000.0
EVIL = '<script>window.pwned=1</script></textarea><img src=x onerror="window.pwned=2">javascript:alert(1)\x07'
FAILED = "tests/test_api.py::test_create_user"


def _run() -> HtmlRun:
    cases = []
    for shard in ("1/2", "2/2"):
        for worker in ("gw0", "gw1"):
            for n in range(5):
                start = T0 + n * 1.0 + (0.3 if worker == "gw1" else 0.0)
                nodeid = f"tests/test_{shard[0]}_{worker}.py::test_{n}"
                cases.append(HtmlCase(nodeid, "passed", 0.8, start=start, stop=start + 0.8, worker=worker,
                                      shard=shard))
    cases.append(HtmlCase(FAILED, "failed", 1.5, message="AssertionError: expected 201, got 500",
                          traceback="Traceback (most recent call last):\n  ...\nAssertionError: expected 201",
                          system_out="POST /users", start=T0 + 6, stop=T0 + 7.5, worker="gw0", shard="1/2"))
    cases.append(HtmlCase(f"tests/test_evil.py::test_{EVIL}", "error", 0.1, message=EVIL, traceback=EVIL,
                          start=T0 + 8, stop=T0 + 8.1, worker="gw1", shard="2/2"))
    cases.append(HtmlCase("tests/test_flaky.py::test_sometimes", "passed", 0.3, start=T0 + 9, stop=T0 + 9.3,
                          worker="gw0", shard="2/2"))
    return HtmlRun(
        run_id="20260101-000000-abcd", state="failed", exit_code=1,
        counts={"total": 23, "passed": 21, "failed": 1, "errors": 1, "skipped": 0, "flaky": 1},
        duration=10.0, started_at=T0, limits={"memory": 1 << 30, "cpus": 2.0, "pids": 512},
        environment=HtmlEnv("demo", "test", "Docker 27.3", (("db", "postgres:16"), ("cache", "redis:7"))),
        command=("pytest", "-n", "2"),
        shards=(HtmlShard("20260101-000001-abce", "1/2", "failed", 1, {"passed": 10, "failed": 1}, 9.0),
                HtmlShard("20260101-000002-abcf", "2/2", "error", 1, {"passed": 11, "errors": 1}, 9.5)),
        cases=tuple(cases), flaky=frozenset({"tests/test_flaky.py::test_sometimes"}),
        log=(LogLine(T0 + 5.9, "setup done"),
             LogLine(T0 + 6.5, "api: 500 Internal Server Error on POST /users"),
             LogLine(T0 + 8.05, f"log {EVIL}"), LogLine(T0 + 9.9, "teardown")),
        history={FAILED: TestHistory("pppppf", 1.2, 1.4),
                 "tests/test_flaky.py::test_sometimes": TestHistory("pfprp", 0.3, 0.4)},
        flaky_history=("tests/test_flaky.py::test_sometimes",), new_failures=(FAILED,))


@dataclass
class Browsed:
    """A report open in Chromium, and what the page did: console errors, requests, dialogs."""

    tab: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@contextlib.contextmanager
def browse(report: Path) -> Iterator[Browsed]:
    """``report`` open in headless Chromium; any request but the page itself is refused and
    recorded, and so is every console error, page error and dialog (an alert() that ran)."""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        browsed = Browsed(None)

        def refuse(route: Any) -> None:
            if route.request.url == report.as_uri():
                route.continue_()
            else:
                browsed.requests.append(route.request.url)
                route.abort()

        def dialog(box: Any) -> None:
            browsed.dialogs.append(f"{box.type}: {box.message}")
            box.dismiss()

        context.route("**/*", refuse)
        tab = context.new_page()
        tab.on("console", lambda m: browsed.errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: browsed.errors.append(str(e)))
        tab.on("dialog", dialog)
        tab.goto(report.as_uri())
        browsed.tab = tab
        try:
            yield browsed
        finally:
            browser.close()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[tuple[Any, list[str], list[str], Path]]:
    report = tmp_path / "report.html"
    report.write_text(render_html(_run(), generated_at=T0), encoding="utf-8")
    with browse(report) as browsed:
        yield browsed.tab, browsed.errors, browsed.requests, tmp_path


def test_report_in_chromium(page: tuple[Any, list[str], list[str], Path]) -> None:
    """Click a failure: its message and log lines show; lanes, filter, no errors, no requests."""
    tab, errors, requests, out = page
    tab.screenshot(path=str(out / "loaded.png"), full_page=True)
    failure = tab.locator("details.failure", has_text=FAILED)
    assert not failure.locator("text=api: 500 Internal Server Error").is_visible()
    failure.locator("summary").click()
    assert failure.locator("pre", has_text="AssertionError: expected 201, got 500").first.is_visible()
    assert failure.locator("pre.log", has_text="api: 500 Internal Server Error on POST /users").is_visible()
    assert not failure.locator("pre.log", has_text="setup done").count()
    tab.screenshot(path=str(out / "failure-open.png"), full_page=True)

    lanes = tab.locator("#lanes .lane-name").all_inner_texts()
    assert lanes == ["shard 1/2 · gw0", "shard 1/2 · gw1", "shard 2/2 · gw0", "shard 2/2 · gw1"]
    assert tab.locator("#shards tr").count() == 3

    tab.fill("#q", "test_create_user")
    # The page's CSP forbids eval, so waits go through locators, never wait_for_function.
    sync_api.expect(tab.locator("#shown")).to_have_text(re.compile(r"^1 of 23 tests$"))
    assert tab.locator("#rows .row").count() == 1
    assert tab.locator("#rows .row .name").inner_text() == FAILED
    tab.locator("#rows .row").click()
    assert tab.locator("#detail pre").inner_text() == "AssertionError: expected 201, got 500"
    assert tab.locator("#detail p.muted").inner_text() == "failed in 1.500s · shard 1/2 · gw0"
    tab.fill("#q", "")
    tab.select_option("#qout", "flaky")
    sync_api.expect(tab.locator("#shown")).to_have_text(re.compile(r"^1 of 23 tests$"))
    assert tab.locator("#rows .row .name").inner_text() == "tests/test_flaky.py::test_sometimes"
    tab.screenshot(path=str(out / "filtered.png"), full_page=True)

    evil = tab.locator("details.failure", has_text="test_evil")
    evil.locator("summary").click()
    assert "<script>window.pwned=1</script>" in evil.locator("pre").first.inner_text()
    assert tab.evaluate("window.pwned === undefined")
    assert tab.locator("img").count() == 0
    assert tab.locator("a[href^='javascript']").count() == 0
    assert errors == []
    assert requests == []


def test_readme_screenshot(page: tuple[Any, list[str], list[str], Path]) -> None:
    """The README's picture: the overview, a failure open, the timeline (docs/html-report.png)."""
    tab, errors, _, out = page
    tab.locator("details.failure", has_text=FAILED).locator("summary").click()
    target = Path(__file__).resolve().parents[2] / "docs" / "html-report.png"
    tab.screenshot(path=str(out / "readme.png"), full_page=True)
    if target.parent.is_dir():
        tab.screenshot(path=str(target), full_page=True)
    assert errors == []


# ---- a real run: tests/fixtures/runs_xdist, 30 tests in 2 shards of 2 xdist workers each ----

REAL_FAILED = "test_api.py::test_create_user"
REAL_EVIL = "test_api.py::test_render_comment"
REAL_FLAKY = "test_flaky.py::test_sometimes"
# What test_render_comment raises and writes to the log (tests/fixtures/runs_xdist/suite/test_api.py).
REAL_MARKUP = '<script>alert(1)</script></textarea><a href="javascript:alert(2)">link</a> javascript:alert(3)'
ONE_SHOWN = re.compile(r"^1 of \d+ tests$")  # the total is checked, exactly, once at the end


@dataclass(frozen=True)
class RealRun:
    """The parent run's `report --format json` and its HTML report's file."""

    summary: dict[str, Any]
    report: Path


@pytest.fixture
def real_run(make_project: Any, tmp_path: Path) -> RealRun:
    """`envctl test --shards 2 -- -n 2` on the runs_xdist project (its image built on first use),
    and the parent run's `report --format html`, written to tmp_path/report.html."""
    project = make_project("runs_xdist")
    try:
        up = project.envctl("up", timeout=900)
        assert up.returncode == 0, up.output
        run = project.envctl("test", "--shards", "2", "--", "-n", "2", timeout=900)
        assert run.returncode == 1, run.output
        summary = json.loads(project.envctl("report", "--format", "json").stdout)
        html = project.envctl("report", summary["run"], "--format", "html")
    finally:
        project.envctl("down", "--volumes")
    assert html.returncode == 0, html.output
    report = tmp_path / "report.html"
    report.write_text(html.stdout, encoding="utf-8")
    return RealRun(summary, report)


def check_real_report(page: Browsed, out: Path) -> None:
    """What the report of the runs_xdist suite's sharded xdist run shows in Chromium (screenshots
    into ``out``), the counts last."""
    tab = page.tab
    tab.screenshot(path=str(out / "real-loaded.png"), full_page=True)
    assert tab.locator("#shards tr").count() == 3  # the heading and the two shards

    failure = tab.locator("details.failure", has_text=REAL_FAILED)
    log_line = failure.locator("pre.log", has_text="api: 500 Internal Server Error on POST /users")
    assert not log_line.is_visible()
    failure.locator("summary").click()
    assert failure.locator("pre", has_text="AssertionError: expected 201, got 500").first.is_visible()
    assert log_line.is_visible()
    tab.screenshot(path=str(out / "real-failure-open.png"), full_page=True)

    lanes = tab.locator("#lanes .lane-name").all_inner_texts()
    assert lanes == ["shard 1/2 · gw0", "shard 1/2 · gw1", "shard 2/2 · gw0", "shard 2/2 · gw1"]

    evil = tab.locator("details.failure", has_text=REAL_EVIL)
    evil.locator("summary").click()
    assert REAL_MARKUP in evil.locator("pre").first.inner_text()
    # Its log line was printed onto xdist's progress dots, begun while the other failure ran.
    assert f"renderer: {REAL_MARKUP}" in evil.locator("pre.log").inner_text()
    tab.fill("#q", "test_render_comment")
    # The list is filtered a moment after typing stops: waits go through expect (the CSP forbids eval).
    sync_api.expect(tab.locator("#rows .row .name")).to_have_text([REAL_EVIL])
    sync_api.expect(tab.locator("#shown")).to_have_text(ONE_SHOWN)
    tab.locator("#rows .row").click()
    assert REAL_MARKUP in tab.locator("#detail pre").inner_text()
    tab.screenshot(path=str(out / "real-markup.png"), full_page=True)
    assert tab.locator("a[href^='javascript'], textarea, img").count() == 0
    assert tab.locator("script").count() == 2  # the data blob and envctl's own script

    tab.fill("#q", "test_create_user")
    sync_api.expect(tab.locator("#rows .row .name")).to_have_text([REAL_FAILED])
    sync_api.expect(tab.locator("#shown")).to_have_text(ONE_SHOWN)
    tab.locator("#rows .row").click()
    assert "AssertionError: expected 201, got 500" in tab.locator("#detail pre").inner_text()
    detail = re.compile(r"^failed in 1\.\d{3}s · shard 2/2 · gw[01]$")  # test_api.py is shard 2's (the split)
    sync_api.expect(tab.locator("#detail p.muted")).to_have_text(detail)
    tab.screenshot(path=str(out / "real-filtered.png"), full_page=True)

    assert (page.errors, page.requests, page.dialogs) == ([], [], [])

    flaky = tab.locator("section.flaky", has_text="Flaky in this run")
    assert flaky.locator("code").all_inner_texts() == [REAL_FLAKY]
    tab.fill("#q", "")
    tab.select_option("#qout", "flaky")
    sync_api.expect(tab.locator("#rows .row .name")).to_have_text([REAL_FLAKY])
    assert tab.locator("#rows .row > span.o-flaky").inner_text() == "flaky"
    tab.screenshot(path=str(out / "real-flaky.png"), full_page=True)

    counts = {name: tab.locator(f"#counts .c-{name} b").inner_text()
              for name in ("passed", "failed", "flaky")}
    assert (counts, tab.locator("#shown").inner_text()) == (
        {"passed": "28", "failed": "2", "flaky": "1"}, "1 of 30 tests")


@pytest.mark.docker
@pytest.mark.timeout(1500)  # the image's first build (pip from PyPI) on a loaded machine, then the run
def test_real_sharded_xdist_run_in_chromium(real_run: RealRun, tmp_path: Path) -> None:
    """A real --shards 2 -n 2 run's report: failures open with their log lines, a lane per shard
    and worker, the flaky test, the filter, markup as text; no error, request or dialog."""
    with browse(real_run.report) as page:
        check_real_report(page, tmp_path)
    counts = real_run.summary["counts"]
    assert (counts["total"], counts["passed"], counts["failed"], counts["errors"], counts["flaky"]) == \
        (30, 28, 2, 0, 1), real_run.summary
    assert [f["test"] for f in real_run.summary["flaky"]] == [REAL_FLAKY]
