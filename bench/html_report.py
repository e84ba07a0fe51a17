"""The HTML report at scale: a 100,000-test run (8 xdist workers in 2 shards, 1% failing), the
time to write its report, its size, and how long Chromium takes to show the failures list; and
the time to pick the log lines of 5,000 failures out of a 200,000-line log.

    .venv/bin/python -m bench.html_report [--tests 100000] [--out /tmp/report.html]
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from pathlib import Path

from envctl.report.html import render_html
from envctl.report.html_model import HtmlCase, HtmlEnv, HtmlRun, LogLine, TestHistory
from envctl.runs.html_data import read_log_lines

T0 = 1_700_000_000.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def big_run(tests: int, *, failing_every: int = 100, seed: int = 7) -> HtmlRun:
    """A synthetic run: ``tests`` tests over 2 shards x 4 workers, one in ``failing_every`` failing
    with a traceback and log lines, one in 500 flaky, every test with a 20-run history."""
    rng = random.Random(seed)  # noqa: S311  # timing data, not secrets
    clock = {(shard, worker): T0 for shard in ("1/2", "2/2") for worker in range(4)}
    cases, log, history, flaky = [], [], {}, set()
    for i in range(tests):
        lane = (("1/2", "2/2")[i % 2], (i // 2) % 4)
        duration = rng.expovariate(1 / 0.05)
        start = clock[lane] + rng.random() * 0.002
        clock[lane] = start + duration
        nodeid = f"tests/pkg{i % 50}/test_mod{i % 700}.py::TestThing::test_case_{i}[param-{i % 7}]"
        failed = i % failing_every == 3
        if failed:
            log.append(LogLine(start + duration / 2, f"ERROR something went wrong in test {i}"))
        elif i % 500 == 11:
            flaky.add(nodeid)
        cases.append(HtmlCase(
            nodeid, "failed" if failed else "skipped" if i % 97 == 5 else "passed", duration,
            message=f"AssertionError: assert {i} == {i + 1}" if failed else "",
            traceback=("Traceback (most recent call last):\n" + "  File x.py, line 3\n" * 30
                       + f"AssertionError: assert {i} == {i + 1}") if failed else "",
            system_out="some output\n" * 5 if failed else "",
            start=start, stop=start + duration, worker=f"gw{lane[1]}", shard=lane[0]))
        history[nodeid] = TestHistory("p" * 19 + ("f" if failed else "p"), duration * 0.9, duration * 1.5)
    log.sort(key=lambda line: line.at or 0.0)
    failed_count = sum(c.outcome == "failed" for c in cases)
    return HtmlRun(
        run_id="20260101-000000-abcd", state="failed", exit_code=1,
        counts={"total": tests, "passed": tests - failed_count - sum(c.outcome == "skipped" for c in cases),
                "failed": failed_count, "errors": 0, "skipped": sum(c.outcome == "skipped" for c in cases),
                "flaky": len(flaky)},
        duration=max(clock.values()) - T0, started_at=T0,
        limits={"memory": 2 << 30, "cpus": 4.0, "pids": 4096},
        environment=HtmlEnv("bench", "test", "Docker 27", (("db", "postgres:16"),)),
        command=("pytest", "-n", "4"), cases=tuple(cases), flaky=frozenset(flaky), log=tuple(log),
        history=history)


def time_to_failures(path: Path) -> float | None:
    """Seconds from navigation until Chromium shows the failures list (None: no browser here)."""
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError:
        return None
    if not Path(CHROMIUM).exists():
        return None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        started = time.perf_counter()
        page.goto(path.as_uri(), wait_until="commit")
        page.wait_for_selector("#failures details", state="visible")
        shown = time.perf_counter() - started
        page.wait_for_selector("#rows .row", state="visible")
        browser.close()
    return shown


def log_lines_seconds(lines: int = 200_000, failures: int = 5000) -> tuple[float, int]:
    """Seconds to pick the lines of ``failures`` windows out of a ``lines``-line log (one time
    index entry per line), and how many were picked."""
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder)
        data = [b"line %d\n" % i for i in range(lines)]
        (run_dir / "output.log").write_bytes(b"".join(data))
        offsets, offset = [], 0
        for i, line in enumerate(data):
            offsets.append(f"{offset} {T0 + i * 0.01!r}\n")
            offset += len(line)
        (run_dir / "output.times").write_text("".join(offsets))
        step = lines // failures
        windows = [(T0 + j * step * 0.01, T0 + (j * step + 2) * 0.01) for j in range(failures)]
        started = time.perf_counter()
        kept = read_log_lines(run_dir, windows, slack=0.0)
        return time.perf_counter() - started, len(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/envctl-html-bench.html"))  # noqa: S108
    args = parser.parse_args()
    run = big_run(args.tests)
    started = time.perf_counter()
    page = render_html(run)
    args.out.write_text(page, encoding="utf-8")
    written = time.perf_counter() - started
    size = args.out.stat().st_size
    print(f"tests: {args.tests}, failures: {run.counts['failed']}")
    print(f"report written in {written:.2f} s, {size / 1e6:.1f} MB ({args.out})")
    held = re.search(r'id="tests-cut">([^<]*)', page)
    if held:  # past the page's 15 MB cap
        print(held.group(1))
    shown = time_to_failures(args.out)
    print("chromium: not available" if shown is None
          else f"chromium shows the failures list after {shown:.2f} s")
    seconds, picked = log_lines_seconds()
    print(f"log lines of 5000 failures in a 200000-line log: {picked} picked in {seconds:.2f} s")


if __name__ == "__main__":
    main()
