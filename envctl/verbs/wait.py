"""`envctl wait` and the MCP tool `wait`: the options' rules (CI mode, a bounded wait), and a
wait bounded by seconds that reports where the run is as it goes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from envctl.errors import UsageError, WaitTimeoutError
from envctl.runs.run import Run, RunStatus
from envctl.runs.state import RunRecord

REPORT_EVERY = 5.0  # seconds between progress reports when nothing changed


@dataclass(frozen=True)
class WaitOptions:
    """The options of `envctl wait`."""

    timeout: str | None = None
    as_json: bool = False
    ci: bool | None = None  # None: CI mode when the environment says CI


def ci_mode(options: WaitOptions, *, on_ci: bool) -> bool:
    """Whether to wait the CI way (heartbeats, folds, annotations, summary, to the end).

    CI=true (``on_ci``) turns it on unless the caller asked for a bounded or JSON answer: an
    agent in a CI job polls with `wait --timeout`, and must get its answer, not a stop."""
    if options.ci and (options.timeout is not None or options.as_json):
        raise UsageError("--ci waits to the end and reports for CI: it takes no --timeout or --json")
    if options.ci is not None:
        return options.ci
    return on_ci and options.timeout is None and not options.as_json


def time_limit(options: WaitOptions) -> float | None:
    """--timeout in seconds (None: to the end)."""
    from envctl.units import parse_duration  # noqa: PLC0415

    try:
        return parse_duration(options.timeout) if options.timeout else None
    except ValueError as exc:
        raise UsageError(f"--timeout {options.timeout!r}: {exc}") from None


@dataclass(frozen=True)
class Waited:
    """Where a run is after a bounded wait, and how long the wait took."""

    status: RunStatus
    waited: float


WaitFor = Callable[..., RunRecord]  # control.wait_for's signature (a fake in unit tests)


def _wait_for(run_dir: Path, **kwargs: object) -> RunRecord:
    from envctl.runs import control  # noqa: PLC0415

    return control.wait_for(run_dir, **kwargs)  # type: ignore[arg-type]


def wait_at_most(run: Run, seconds: float, *,
                 on_progress: Callable[[float, RunStatus], None] = lambda _at, _status: None,
                 wait_for: WaitFor = _wait_for,
                 clock: Callable[[], float] = time.monotonic) -> Waited:
    """`envctl wait`'s own wait (control.wait_for: it takes a dead recorder's run over and
    blocks on the engine's exit event), bounded by ``seconds``. ``on_progress(seconds waited,
    status)`` is called when the run's progress changes, and at least every REPORT_EVERY s;
    the seconds waited only increase (MCP progress must)."""
    began = clock()
    last_state: object = ()  # what was last reported, and when
    last_at: float | None = None

    def tick(_record: RunRecord) -> None:
        nonlocal last_state, last_at
        status = run.status(lines=0)
        counts = status.progress.counts
        now_state = (status.record.state, counts.done, counts.failed, counts.errors,
                     status.progress.current)
        now = clock()
        if now_state != last_state or last_at is None or now - last_at >= REPORT_EVERY:
            on_progress(round(now - began, 3), status)
            last_state, last_at = now_state, now

    with contextlib.suppress(WaitTimeoutError):  # the deadline is an answer: not ended yet
        wait_for(run.dir, timeout=seconds, cleaned=False, on_tick=tick)
    return Waited(run.status(lines=5), clock() - began)
