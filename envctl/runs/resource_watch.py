"""The run's resource use while the tests run: the test container's memory (as its cgroup
counts it), CPU and processes, and each service's, sampled by the collector.

A thread per container reads the engine's stats stream (a sample a second, ``docker.stats``);
a writer thread, every ``interval`` seconds, writes the last figures and peaks to
``resources.json`` and a point of the series to ``resources.jsonl`` (``resource_files``), and
every RELIST seconds looks for services that started since. Nothing runs in the test container:
the tests pay nothing but the engine's own collection. At the end the plugin's readings of the
container's cgroup peak (``memory_growth``) may raise the peak (cgroup v2's API has none, and a
spike between two samples is otherwise missed), never above the limit the engine applies.

It never fails the run: an engine that refuses or goes away is said in collector.log, and the
run goes on without figures.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from envctl.report.usage import Resources, Usage
from envctl.runs.collector_log import say
from envctl.runs.memory_growth import plugin_peak
from envctl.runs.resource_files import Series, read_resources, write_resources
from envctl.runs.store import START_FILE

if TYPE_CHECKING:
    from envctl.docker.models import ContainerState
    from envctl.docker.stats import ContainerStats
    from envctl.runs.host_limits import HostCgroup

DEFAULT_INTERVAL = 2.0  # seconds between two writes of the figures
INTERVAL_MAX = 3600.0
RELIST_EVERY = 30.0  # seconds between two looks for services that started since
SERVICES_FOLLOWED = 16  # services whose stats are streamed at once
SERVICE_EVERY = 10.0  # seconds between two looks at a service (the test container's stream is kept)
SERVICE_SAMPLES = 2  # samples taken of a service at each look: the second has its CPU figure
JOIN_WAIT = 2.0  # seconds a reader is waited for at the end, once its stream is closed
CGROUP_EVERY = 1.0  # seconds between two reads of a host run's cgroup (the engine's pace)
BENCH_SWITCH = "ENVCTL_BENCH_RESOURCES"  # "off": no sampling (bench/resources.py measures its cost)


class StatsEngine(Protocol):
    """What the watch asks of an engine (``docker.engine.Engine``; a fake in tests)."""

    def stats(self, container_id: str) -> Iterator[ContainerStats]: ...

    def containers(self, labels: dict[str, str] | list[str], *,
                   all_: bool = True) -> list[ContainerState]: ...

    def close(self) -> None: ...


def engine_at(host: str | None = None) -> StatsEngine:
    """An engine to sample (``host``: a DOCKER_HOST value; None: this process's own)."""
    from envctl.docker import timeouts  # noqa: PLC0415
    from envctl.docker.engine import Engine  # noqa: PLC0415  # lazy: the SDK is heavy

    return Engine(timeout=timeouts.CALL, host=host)


def sampling_interval(run_dir: Path, environ: dict[str, str] | None = None) -> float:
    """Seconds between two samples written: the run's ``resource_interval`` setting when its
    settings have one (0: off), else DEFAULT_INTERVAL; ENVCTL_BENCH_RESOURCES=off turns it off."""
    if (os.environ if environ is None else environ).get(BENCH_SWITCH) == "off":
        return 0.0
    try:
        settings = json.loads((run_dir / START_FILE).read_text(encoding="utf-8")).get("settings", {})
        value = settings.get("resource_interval", DEFAULT_INTERVAL)
    except (OSError, ValueError, AttributeError):
        return DEFAULT_INTERVAL
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= INTERVAL_MAX:
        return float(value)
    return DEFAULT_INTERVAL


class Sampler:
    """The figures so far: each container's last sample and its peak (None: the test container;
    a service by its name). Readers' threads add, the writer reads, under one lock."""

    def __init__(self, previous: Resources | None = None) -> None:
        self._lock = threading.Lock()
        self.usage: dict[str | None, Usage] = {}
        self.samples = previous.samples if previous is not None else 0
        if previous is not None:  # a collector that took over keeps the peaks seen before
            if previous.test is not None:
                self.usage[None] = previous.test
            self.usage.update(previous.services)

    def seen(self, key: str | None, stats: ContainerStats) -> None:
        with self._lock:
            before = self.usage.get(key)
            peaks = [p for p in (before.peak if before else None, stats.peak, stats.memory) if p is not None]
            self.usage[key] = Usage(memory=stats.memory, working_set=stats.working_set,
                                    peak=max(peaks) if peaks else None, limit=stats.limit,
                                    cpu=stats.cpu, pids=stats.pids)
            if key is None:
                self.samples += 1

    def raise_peak(self, key: str | None, peak: int | None) -> None:
        """A peak read elsewhere (the plugin's, already bounded by the limit)."""
        with self._lock:
            before = self.usage.get(key)
            if peak is None or before is None or (before.peak is not None and before.peak >= peak):
                return
            self.usage[key] = Usage(before.memory, before.working_set, peak, before.limit, before.cpu,
                                    before.pids)

    def figures(self, at: float) -> Resources:
        with self._lock:
            services = tuple(sorted((k, u) for k, u in self.usage.items() if k is not None))
            return Resources(at=at, test=self.usage.get(None), services=services, samples=self.samples)


class ResourceWatch:
    """Samples ``test_container`` and the running services of ``project`` from ``start`` to
    ``stop``; ``interval`` 0: not at all. ``host_cgroup``: a `test --host` run's tests are read
    from their cgroup instead of a container's stats."""

    def __init__(self, run_dir: Path, project: str, test_container: str, *,
                 interval: float = DEFAULT_INTERVAL, open_engine: Callable[[], StatsEngine] = engine_at,
                 clock: Callable[[], float] = time.time, host_cgroup: HostCgroup | None = None,
                 tests_sampled: bool = True) -> None:
        self.host_cgroup = host_cgroup
        self.tests_sampled = tests_sampled
        self.run_dir = run_dir
        self.project = project
        self.test_container = test_container
        self.interval = interval
        self.open_engine = open_engine
        self.clock = clock
        self.sampler = Sampler(read_resources(run_dir))
        self.series: Series | None = None
        self.started = False
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._streams: dict[str, Any] = {}  # container -> its open stream (closed at the end)
        self._followed: set[str] = set()  # containers with a reader now
        self._said: set[str] = set()
        self._names: dict[str, str] = {}  # a service's container -> the name it is shown under
        self._ticking = threading.Lock()  # the writer's tick and the last one, one at a time

    def start(self) -> None:
        if self.interval <= 0 or self.started:
            return
        self.started = True
        try:
            self.series = Series(self.run_dir)
        except OSError as exc:
            say(f"collector {self.run_dir.name}: no resource series: {exc}")
        if self.host_cgroup is not None:
            self._spawn(self._read_cgroup, "envctl-stats-tests")
        elif self.tests_sampled:
            self.follow(None, self.test_container)
        self._spawn(self._write, "envctl-resources")

    def _read_cgroup(self) -> None:
        """A host run's tests, from their cgroup every CGROUP_EVERY seconds (CPU: the time used
        between two reads, as a percent of one CPU, like the engine's figure)."""
        from envctl.docker.stats import ContainerStats  # noqa: PLC0415
        from envctl.runs.host_limits import usage  # noqa: PLC0415

        assert self.host_cgroup is not None  # noqa: S101  # start() runs this only with one
        before: tuple[float, float] | None = None
        while True:
            now, used = time.monotonic(), usage(self.host_cgroup)
            cpu = None
            if used.cpu_seconds is not None:
                if before is not None and now > before[0]:
                    cpu = max(0.0, (used.cpu_seconds - before[1]) / (now - before[0]) * 100)
                before = (now, used.cpu_seconds)
            self.sampler.seen(None, ContainerStats(memory=used.memory_current, peak=used.memory_peak,
                                                   limit=used.memory_limit, cpu=cpu, pids=used.pids_current))
            if self._stopped.wait(CGROUP_EVERY):
                return

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, daemon=True, name=name)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def follow(self, key: str | None, container: str) -> None:
        """Read ``container``'s samples in a thread of their own, until it stops or we do."""
        with self._lock:
            if container in self._followed or self._stopped.is_set():
                return
            self._followed.add(container)
        self._spawn(lambda: self.read(key, container), f"envctl-stats-{key or 'tests'}")

    def read(self, key: str | None, container: str) -> None:
        """One reader (the body of its thread): the test container's stream into the sampler
        until it stops or we do; a service's two samples (the second has its CPU) every
        SERVICE_EVERY seconds, so the engine collects a service's figures a fifth as often. A
        stream that cannot be opened is said; one that ends in an error once we stop is not."""
        every = None if key is None else SERVICE_EVERY
        engine: StatsEngine | None = None
        opened = False
        try:
            engine = self.open_engine()
            while not self._stopped.is_set():
                stream = engine.stats(container)
                opened = True
                if not self._take(key, container, stream, every is not None):
                    return  # the container stopped (or we did)
                if every is None or self._stopped.wait(every):
                    return
        except Exception as exc:  # an engine error, a closed stream: the run goes on without it
            if not opened or not self._stopped.is_set():
                self._say_once(container, f"no resource figures for {container}: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._followed.discard(container)
                self._streams.pop(container, None)
            if engine is not None:
                with contextlib.suppress(Exception):
                    engine.close()

    def _take(self, key: str | None, container: str, stream: Iterator[ContainerStats], few: bool) -> bool:
        """Samples of one stream into the sampler: all of them, or SERVICE_SAMPLES when ``few``;
        whether it is worth opening again (it was left, not ended by the container's stop)."""
        with self._lock:
            self._streams[container] = stream
        try:
            if self._stopped.is_set():
                return False
            for taken, stats in enumerate(stream, 1):
                self.sampler.seen(key, stats)
                if self._stopped.is_set():
                    return False
                if few and taken >= SERVICE_SAMPLES:
                    return True
            return False
        finally:
            with self._lock:
                self._streams.pop(container, None)
            with contextlib.suppress(Exception):
                getattr(stream, "close", lambda: None)()

    def _say_once(self, topic: str, text: str) -> None:
        with self._lock:
            if topic in self._said:
                return
            self._said.add(topic)
        say(f"collector {self.run_dir.name}: {text}")

    def _write(self) -> None:
        """The writer: the figures every ``interval``, the services every RELIST_EVERY."""
        relisted = None
        while True:
            now = time.monotonic()
            if relisted is None or now - relisted >= RELIST_EVERY:
                relisted = now
                self.relist()
            if self._stopped.wait(self.interval):
                return
            self.tick()

    def relist(self) -> None:
        """Follow the project's running services not followed yet (a few at most)."""
        from envctl.docker import labels  # noqa: PLC0415

        try:
            engine = self.open_engine()
            try:
                states = engine.containers({labels.COMPOSE_PROJECT: self.project}, all_=False)
            finally:
                engine.close()
        except Exception as exc:  # the services go unsampled; the tests' container does not
            self._say_once("services", f"the services' resource use is not sampled: {exc}")
            return
        for key, container in services_of(states, self.test_container, self._names):
            with self._lock:
                full = len(self._followed) > SERVICES_FOLLOWED
            if not full:
                self.follow(key, container)

    def tick(self) -> Resources:
        """Write the figures now; what was written."""
        with self._ticking:
            at = self.clock()
            figures = dataclasses.replace(self.sampler.figures(at), on_host=self.host_cgroup is not None)
            try:
                if figures.test is not None or figures.services:
                    write_resources(self.run_dir, figures)
                if self.series is not None and figures.test is not None:
                    self.series.add(figures.test, at)
            except OSError as exc:  # a full disk: the figures wait for the next tick
                self._say_once("write", f"resource figures not written: {exc}")
            return figures

    def stop(self) -> Resources | None:
        """Stop sampling, raise the peak to the plugin's, write the figures a last time; the
        last figures (None when it never started)."""
        if not self.started:
            return None
        self._stopped.set()
        with self._lock:
            streams = list(self._streams.values())
            threads = list(self._threads)
        for stream in streams:
            with contextlib.suppress(Exception):
                stream.close()
        for thread in threads:
            thread.join(JOIN_WAIT)
        test = self.sampler.figures(self.clock()).test
        with contextlib.suppress(OSError):
            self.sampler.raise_peak(None, plugin_peak(self.run_dir, test.limit if test else None))
        return self.tick()


def services_of(states: Iterable[ContainerState], test_container: str,
                known: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(name shown, container) of each running service of the project: not the tests' own
    container, nor a one-off (`compose run`) or another run's. A container keeps the name it was
    shown under (``known``, updated); a second container of a service shows its own name."""
    from envctl.docker import labels  # noqa: PLC0415

    known = {} if known is None else known
    found = []
    for state in sorted(states, key=lambda s: s.name):
        if not state.service or state.name == test_container or state.status != "running" \
                or state.labels.get(labels.COMPOSE_ONEOFF) == "True" \
                or state.labels.get(labels.ROLE) == labels.TEST_RUN_ROLE:
            continue
        if state.name not in known:
            known[state.name] = state.service if state.service not in known.values() else state.name
        found.append((known[state.name], state.name))
    return found
