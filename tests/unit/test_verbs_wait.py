"""The wait verb: when CI mode applies, --timeout, and a bounded wait on a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from envctl.errors import UsageError, WaitTimeoutError
from envctl.runs import lifecycle
from envctl.runs.outcome import EndFacts
from envctl.runs.run import RunStatus
from envctl.runs.state import RunRecord
from envctl.verbs import runs
from envctl.verbs.wait import WaitOptions, ci_mode, time_limit, wait_at_most
from tests.unit.run_dirs import make_run, settings_at


@pytest.mark.parametrize(("options", "on_ci", "expected"), [
    (WaitOptions(), False, False),
    (WaitOptions(), True, True),
    (WaitOptions(timeout="5s"), True, False),  # an agent in a CI job polls: it gets its answer
    (WaitOptions(as_json=True), True, False),
    (WaitOptions(ci=True), False, True),
    (WaitOptions(ci=False), True, False),
])
def test_when_ci_mode_applies(options: WaitOptions, on_ci: bool, expected: bool) -> None:
    """--ci/--no-ci win; CI=true turns it on only for an unbounded, printed wait."""
    assert ci_mode(options, on_ci=on_ci) is expected


@pytest.mark.parametrize("options", [WaitOptions(ci=True, timeout="1s"), WaitOptions(ci=True, as_json=True)])
def test_ci_mode_takes_no_timeout_or_json(options: WaitOptions) -> None:
    """--ci waits to the end: a bound or JSON with it is a usage error."""
    with pytest.raises(UsageError, match="takes no --timeout or --json"):
        ci_mode(options, on_ci=False)


def test_time_limit() -> None:
    """--timeout in seconds; none is no limit; a bad one is a usage error naming it."""
    assert time_limit(WaitOptions(timeout="2m")) == 120.0
    assert time_limit(WaitOptions()) is None
    with pytest.raises(UsageError, match="--timeout 'soon'"):
        time_limit(WaitOptions(timeout="soon"))


def test_a_bounded_wait_reports_changes_and_a_beat(tmp_path: Path) -> None:
    """Progress is reported on the first look, on a change, and every 5 s otherwise."""
    run_dir = make_run(tmp_path)
    now = [10.0]
    seen: list[tuple[float, str]] = []

    def fake_wait_for(path: Path, **kwargs: Any) -> RunRecord:
        assert (path, kwargs["timeout"], kwargs["cleaned"]) == (run_dir, 30.0, False)
        for step, finish in ((1.0, False), (1.0, False), (6.0, False), (0.5, True)):
            now[0] += step
            if finish:
                lifecycle.finish(path, EndFacts(exit_code=0))
            kwargs["on_tick"](RunRecord.load(path))
        return RunRecord.load(path)

    def report(at: float, status: RunStatus) -> None:
        seen.append((at, status.record.state.value))

    waited = wait_at_most(runs.open_run(settings_at(tmp_path)), 30.0, on_progress=report,
                          wait_for=fake_wait_for, clock=lambda: now[0])
    assert seen == [(1.0, "running"), (8.0, "running"), (8.5, "passed")]
    assert (waited.waited, waited.status.record.state.value) == (8.5, "passed")


def test_a_bounded_wait_ends_at_its_deadline(tmp_path: Path) -> None:
    """The deadline is an answer: the run goes on, and the wait says so."""
    make_run(tmp_path)

    def deadline(_path: Path, **_kwargs: Any) -> RunRecord:
        raise WaitTimeoutError("deadline")

    waited = wait_at_most(runs.open_run(settings_at(tmp_path)), 0.0, wait_for=deadline, clock=lambda: 3.0)
    assert (waited.waited, waited.status.record.state.value) == (0.0, "running")


def test_the_default_wait_is_the_controls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a fake, the wait is control.wait_for (which takes a dead recorder's run over)."""
    from envctl.runs import control  # noqa: PLC0415

    run_dir = make_run(tmp_path, exit_code=2)
    asked: list[Path] = []

    def fake_wait_for(path: Path, **_kwargs: Any) -> RunRecord:
        asked.append(path)
        return RunRecord.load(path)

    monkeypatch.setattr(control, "wait_for", fake_wait_for)
    waited = wait_at_most(runs.open_run(settings_at(tmp_path)), 1.0, clock=lambda: 0.0)
    assert (asked, waited.status.record.exit_code) == ([run_dir], 2)
