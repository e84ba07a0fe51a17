"""A container's resource use, from the engine's stats stream: memory as its cgroup counts it,
CPU and processes.

The figures are the cgroup's own, not the one `docker stats` prints (which leaves the page
cache out): ``memory`` is the cgroup's usage, page cache included, what the limit is counted
against and so what an OOM kill happens at; ``working_set`` is that usage less the inactive file
cache (`docker stats`' figure). ``peak`` is cgroup v1's own highest usage (``max_usage``); the
engine gives none on cgroup v2 (its ``memory.peak`` is not in the API), so callers keep the
highest usage they saw.

The stream, measured on engine 20.10: a first sample at once (with no CPU figure: there is no
sample before it), then one a second while the container runs. Once it has stopped the engine
goes on sending empty samples every second and never ends the stream, so a reader stops at the
first (``ContainerStats.running`` is False). A one-shot call (``stream=false``, even with
``one-shot=true``) waits a second or two for the engine's next collection, so a stream is the
cheaper way to sample. Each read keeps the client's socket deadline (a sample comes every
second: a silent engine is an error within it); ``close`` from another thread ends a read.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from envctl.docker.streams import EventStream
from envctl.docker.translate import translate_errors

if TYPE_CHECKING:
    from docker import APIClient

BYTES_MAX = 1 << 62  # a figure above 4 EiB is no figure (cgroup v1 says "no limit" with 2^63 - 4096)
COUNT_MAX = 10**9  # processes, CPUs
CPU_MAX = 100_000.0  # percent: a thousand CPUs busy


@dataclass(frozen=True)
class ContainerStats:
    """One sample of a container's resource use (None: the engine did not say)."""

    memory: int | None = None  # the cgroup's usage in bytes, page cache included
    working_set: int | None = None  # usage less the inactive file cache (`docker stats`' figure)
    peak: int | None = None  # the cgroup's highest usage (cgroup v1 only)
    limit: int | None = None  # the memory limit applied (the machine's memory when none is set)
    cpu: float | None = None  # percent of one CPU since the sample before (200: two CPUs busy)
    pids: int | None = None

    @property
    def running(self) -> bool:
        """Whether the sample says anything: a stopped container's samples are empty."""
        return self.memory is not None or self.pids is not None


def _bytes(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < BYTES_MAX:
        return value
    return None


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= COUNT_MAX:
        return value
    return None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def from_stats(payload: object) -> ContainerStats:
    """One sample of the engine's stats JSON (cgroup v1 or v2), every number checked: what is
    missing, negative, not an integer or out of bounds is unknown."""
    data = _dict(payload)
    memory = _dict(data.get("memory_stats"))
    detail = _dict(memory.get("stats"))
    usage = _bytes(memory.get("usage"))
    # v1 names the whole hierarchy's figure total_inactive_file; v2 has inactive_file only.
    inactive = _bytes(detail.get("total_inactive_file"))
    if inactive is None:
        inactive = _bytes(detail.get("inactive_file"))
    working_set = None if usage is None else usage - min(usage, inactive or 0)
    peak = _bytes(memory.get("max_usage"))
    return ContainerStats(memory=usage, working_set=working_set,
                          peak=None if peak is None or usage is None else max(peak, usage),
                          limit=_bytes(memory.get("limit")) or None,
                          cpu=cpu_percent(_dict(data.get("cpu_stats")), _dict(data.get("precpu_stats"))),
                          pids=_count(_dict(data.get("pids_stats")).get("current")))


def cpu_percent(now: dict[str, Any], before: dict[str, Any]) -> float | None:
    """`docker stats`' CPU figure: the container's CPU time over the machine's between two
    samples, times its CPUs, in percent (None without a sample before, or with odd numbers)."""
    used = _bytes(_dict(now.get("cpu_usage")).get("total_usage"))
    used_before = _bytes(_dict(before.get("cpu_usage")).get("total_usage"))
    system, system_before = _bytes(now.get("system_cpu_usage")), _bytes(before.get("system_cpu_usage"))
    cpus = _count(now.get("online_cpus"))
    if not cpus:
        percpu = _dict(now.get("cpu_usage")).get("percpu_usage")
        cpus = min(len(percpu), COUNT_MAX) if isinstance(percpu, list) else None
    if used is None or used_before is None or system is None or system_before is None or not cpus:
        return None
    spent, elapsed = used - used_before, system - system_before
    if elapsed <= 0 or spent < 0:
        return None
    percent = spent / elapsed * cpus * 100.0
    return round(percent, 1) if math.isfinite(percent) and percent <= CPU_MAX else None


class StatsStream(Iterator[ContainerStats]):
    """A container's samples while it runs; ends at its first empty sample (it stopped).
    ``close`` (from any thread) ends it, and a read blocked in it."""

    def __init__(self, raw: EventStream) -> None:
        self.raw = raw

    def __next__(self) -> ContainerStats:
        with translate_errors("reading a container's resource use"):
            payload = next(self.raw)
        stats = from_stats(payload)
        if not stats.running:
            raise StopIteration
        return stats

    def close(self) -> None:
        self.raw.close()


def open_stats(api: APIClient, container_id: str) -> StatsStream:
    """The container's stats stream, opened within the client's deadline; each read keeps it."""
    sdk = cast("Any", api)  # the SDK's stubs omit its private helpers
    with translate_errors("asking for a container's resource use"):
        response = sdk._get(sdk._url("/containers/{0}/stats", container_id), params={"stream": True},
                            stream=True)
        sdk._raise_for_status(response)  # a missing container: ContainerGoneError
    return StatsStream(EventStream(sdk._stream_helper(response, decode=True), response))
