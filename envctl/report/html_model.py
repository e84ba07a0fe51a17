"""The values an HTML report is drawn from: plain, frozen, and built by whoever reads the run
(``html_data``), so the renderer (``html``) is a pure function of them and tests need no run dir."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HtmlCase:
    """One test as the report shows it. Every string comes from the test container."""

    nodeid: str
    outcome: str  # passed, failed, error, skipped, xfailed, xpassed
    duration: float = 0.0
    message: str = ""
    traceback: str = ""  # the failure's whole text when JUnit kept it, else its tail joined
    system_out: str = ""
    system_err: str = ""
    start: float | None = None  # epoch seconds, from the plugin's events
    stop: float | None = None
    worker: str | None = None  # the xdist worker ("gw3"), or a lane inferred from overlaps
    shard: str | None = None  # "K/N" of the shard run it ran in

    @property
    def file(self) -> str:
        return self.nodeid.split("::", 1)[0]


@dataclass(frozen=True)
class HtmlShard:
    """One shard of a --shards parent."""

    run_id: str
    label: str  # "K/N"
    state: str
    exit_code: int | None
    counts: Mapping[str, int | None]
    duration: float | None
    engine: str | None = None  # the engine it ran on, as named in `engines` (None: the one default)


@dataclass(frozen=True)
class HtmlEnv:
    """Where the run ran."""

    project: str = ""
    service: str = ""
    engine: str = ""  # the engine it ran on, as the user named it (a context or an address)
    services: tuple[tuple[str, str], ...] = ()  # (service, image)


@dataclass(frozen=True)
class LogLine:
    """A line of the run's output and when it arrived (None: the time index does not cover it)."""

    at: float | None
    text: str


@dataclass(frozen=True)
class TestHistory:
    """A test over the recorded runs: its outcomes oldest first (one letter each, see
    ``envctl.history.OUTCOME_LETTERS``) and its duration percentiles in seconds."""

    __test__ = False  # a name pytest would otherwise try to collect from test modules

    strip: str = ""
    p50: float | None = None
    p95: float | None = None


@dataclass(frozen=True)
class HtmlResources:
    """The run's resource use: the test container's memory over the run (its cgroup's usage),
    its last figures and the services', the 80% warnings, the tests that grew memory the most."""

    series: tuple[tuple[float, int], ...] = ()  # (epoch seconds, bytes), oldest first
    limit: int | None = None  # bytes: the test container's memory limit
    test: str = ""  # its line: "memory 412 MiB (peak 498 MiB of 1 GiB, 49%) cpu 180% pids 37"
    services: tuple[tuple[str, str], ...] = ()  # (service, its line)
    warnings: tuple[str, ...] = ()
    growth: tuple[tuple[str, int, int, int], ...] = ()  # (test, grew, before, after) in bytes, most first


@dataclass(frozen=True)
class HtmlRun:
    run_id: str
    state: str
    exit_code: int | None
    counts: Mapping[str, int | None]
    duration: float | None = None
    started_at: float | None = None
    message: str = ""
    limits: Mapping[str, object] = field(default_factory=dict)  # memory (bytes), cpus, pids
    environment: HtmlEnv = field(default_factory=HtmlEnv)
    command: tuple[str, ...] = ()
    shards: tuple[HtmlShard, ...] = ()
    cases: tuple[HtmlCase, ...] = ()
    flaky: frozenset[str] = frozenset()  # passed after a rerun in this run
    log: tuple[LogLine, ...] = ()  # in arrival order; only lines near failures are needed
    history: Mapping[str, TestHistory] = field(default_factory=dict)
    flaky_history: tuple[str, ...] = ()  # failed and passed at the same code in the history
    new_failures: tuple[str, ...] = ()  # failing now, not in the last run of the same command
    problem: str | None = None  # why the results were not read whole
    resources: HtmlResources | None = None  # None: never sampled
