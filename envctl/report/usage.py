"""A run's resource use as values and words: the test container's and each service's memory (as
their cgroups count it), CPU and processes, the 80% warning, and the tests during which memory
grew the most.

Memory is the cgroup's usage, page cache included: what the limit is counted against, so what an
OOM kill happens at. The working set (usage less the inactive file cache, `docker stats`' figure)
is kept beside it and named as such. The values come from the collector's samples
(``runs.resource_watch``) or, for a test's growth, from the plugin in the container: whatever
reads them bounds every number first (``from_json``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WARN_AT = 0.8  # a peak at this share of a limit or above is worth a warning
BYTES_MAX = 1 << 62
CPU_MAX = 100_000.0
COUNT_MAX = 10**9
SERVICES_CAP = 32  # services whose use a run keeps
NAME_CAP = 100  # characters of a service's name


@dataclass(frozen=True)
class Usage:
    """One container's use: its last sample and the highest memory seen (None: not known)."""

    memory: int | None = None  # bytes, the cgroup's usage in the last sample
    working_set: int | None = None  # bytes, usage less the inactive file cache
    peak: int | None = None  # bytes, the highest usage (the cgroup's own on v1, else the samples')
    limit: int | None = None  # bytes, the memory limit (the machine's memory when none is set)
    cpu: float | None = None  # percent of one CPU
    pids: int | None = None

    @property
    def share(self) -> float | None:
        """The peak as a share of the limit."""
        if self.peak is None or not self.limit:
            return None
        return self.peak / self.limit

    def to_json(self) -> dict[str, int | float | None]:
        return {"memory": self.memory, "working_set": self.working_set, "peak": self.peak,
                "limit": self.limit, "cpu": self.cpu, "pids": self.pids}

    @classmethod
    def from_json(cls, data: object) -> Usage | None:
        """A usage read back from a file: every number bounded, anything else unknown."""
        if not isinstance(data, Mapping):
            return None
        cpu = data.get("cpu")
        return cls(memory=size(data.get("memory")), working_set=size(data.get("working_set")),
                   peak=size(data.get("peak")), limit=size(data.get("limit")),
                   cpu=float(cpu) if isinstance(cpu, (int, float)) and not isinstance(cpu, bool)
                   and math.isfinite(cpu) and 0 <= cpu <= CPU_MAX else None,
                   pids=count(data.get("pids")))


@dataclass(frozen=True)
class Resources:
    """What the collector last wrote: the test container's use and each service's."""

    at: float | None = None  # when the last sample was taken (epoch seconds)
    test: Usage | None = None
    services: tuple[tuple[str, Usage], ...] = ()  # (service, its use), by name
    samples: int = 0  # samples taken of the test container
    on_host: bool = False  # a `test --host` run: ``test`` is the tests' cgroup on this machine

    @property
    def tests_are(self) -> str:
        """What ``test`` measures, in words."""
        return "the tests on this machine" if self.on_host else "the test container"

    def warnings(self) -> list[str]:
        """One sentence for each container whose memory peaked at WARN_AT of its limit or more."""
        found = []
        if self.test is not None and (text := warning(self.tests_are, self.test)):
            found.append(text)
        found += [text for name, usage in self.services if (text := warning(f"service {name}", usage))]
        return found

    def to_json(self) -> dict[str, object]:
        return {"at": self.at, "samples": self.samples,
                "test": self.test.to_json() if self.test is not None else None,
                "services": {name: usage.to_json() for name, usage in self.services},
                "warnings": self.warnings(), "on_host": self.on_host}

    @classmethod
    def from_json(cls, data: object) -> Resources | None:
        if not isinstance(data, Mapping):
            return None
        at = data.get("at")
        services = data.get("services")
        named = [(clean_name(name), Usage.from_json(value))
                 for name, value in (services.items() if isinstance(services, Mapping) else ())]
        return cls(at=float(at) if isinstance(at, (int, float)) and not isinstance(at, bool)
                   and math.isfinite(at) and 0 < at < 1e10 else None,
                   test=Usage.from_json(data.get("test")),
                   services=tuple(sorted((name, usage) for name, usage in named
                                         if name and usage is not None)[:SERVICES_CAP]),
                   samples=count(data.get("samples")) or 0, on_host=data.get("on_host") is True)


def size(value: object) -> int | None:
    """Bytes, if ``value`` is a whole number within bounds (never a bool, a float, a string)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < BYTES_MAX:
        return value
    return None


def count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= COUNT_MAX:
        return value
    return None


def clean_name(value: object) -> str:
    """A service's name as it may be shown: printable ASCII letters, digits and `._-` only."""
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value[:NAME_CAP] if c.isascii() and (c.isalnum() or c in "._-"))


def binary_size(n_bytes: int) -> str:
    """A size in binary units, three figures at most: 412 MiB, 1.5 GiB, 24 KiB, 900 B."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1023.5 or unit == "PiB":  # 1023.6 MiB would round to "1024 MiB": 1 GiB
            if unit == "B":
                return f"{n_bytes} B"
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return f"{text.removesuffix('.0')} {unit}"
        value /= 1024
    return f"{n_bytes} B"  # not reached: the loop returns at PiB


def usage_line(usage: Usage) -> str:
    """One line: ``memory 412 MiB (peak 498 MiB of 1 GiB, 49%) cpu 180% pids 37``."""
    parts = []
    if usage.memory is not None:
        peak = []
        if usage.peak is not None:
            peak.append(f"peak {binary_size(usage.peak)}")
        if usage.limit:
            peak.append(f"of {binary_size(usage.limit)}")
        share = usage.share
        detail = " ".join(peak) + (f", {share:.0%}" if share is not None else "")
        parts.append(f"memory {binary_size(usage.memory)}" + (f" ({detail})" if detail else ""))
    if usage.cpu is not None:
        parts.append(f"cpu {usage.cpu:.0f}%")
    if usage.pids is not None:
        parts.append(f"pids {usage.pids}")
    return " ".join(parts)


def services_line(services: Sequence[tuple[str, Usage]], width: int = 80) -> str:
    """The services' memory on one line of at most ``width`` columns, the largest first:
    ``services: db 120 MiB (peak 130 MiB), cache 8 MiB and 2 more``."""
    ranked = sorted(((name, usage) for name, usage in services if usage.memory is not None),
                    key=lambda item: -(item[1].memory or 0))
    shown: list[str] = []
    for index, (name, usage) in enumerate(ranked):
        peak = f" (peak {binary_size(usage.peak)})" if usage.peak is not None else ""
        item = f"{name} {binary_size(usage.memory or 0)}{peak}"
        rest = len(ranked) - index - 1
        candidate = "services: " + ", ".join([*shown, item]) + (f" and {rest} more" if rest else "")
        if len(candidate) > width and shown:
            return "services: " + ", ".join(shown) + f" and {len(ranked) - index} more"
        shown.append(item)
    return "services: " + ", ".join(shown) if shown else ""


def warning(who: str, usage: Usage) -> str | None:
    """A sentence when ``who``'s memory peaked at WARN_AT of its limit or more."""
    share = usage.share
    if share is None or share < WARN_AT or usage.peak is None or not usage.limit:
        return None
    return (f"{who}'s memory peaked at {binary_size(usage.peak)}, {share:.0%} of its "
            f"{binary_size(usage.limit)} limit")


@dataclass(frozen=True)
class Growth:
    """How far memory rose while one test ran, as the plugin read the container's cgroup at its
    start and end: ``before`` and ``after`` are the usage then; ``peak`` the cgroup's new peak when
    the test raised it (None when it did not)."""

    test: str
    before: int
    after: int
    peak: int | None = None

    @property
    def grew(self) -> int:
        """Bytes above the usage at the test's start: to the new peak when the test set one (what
        it allocated and freed counts), else to the usage at its end."""
        return max(self.after, self.peak or 0) - self.before

    def to_json(self) -> dict[str, object]:
        return {"test": self.test, "grew": self.grew, "before": self.before, "after": self.after,
                "peak": self.peak}
