"""Where the shards of `envctl test --shards N` run when several engines are named (the
``engines`` setting, `--engines`): each engine takes a share of the shards in proportion to its
CPUs (the engine's own count, or the one its entry gives). The shards themselves stay balanced
on recorded durations, as on one engine: an engine with twice the CPUs runs twice the shards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from envctl.errors import ConfigError, EnvctlError
from envctl.setting_values import engine_entry


@dataclass(frozen=True)
class EnginePlace:
    """One engine shards may go to: as the user named it, its address, and its weight."""

    name: str
    host: str  # a DOCKER_HOST value
    cpus: int


def apportion(shards: int, weights: Sequence[int]) -> list[int]:
    """How many of ``shards`` each weight gets: in proportion, the remainders to the largest
    fractions (the earlier engine on a tie), so the counts add up to ``shards`` exactly."""
    if shards < 0 or not weights or any(w < 1 for w in weights):
        raise ValueError("shards >= 0 and weights >= 1")
    total = sum(weights)
    counts = [shards * w // total for w in weights]
    # The largest remainders first: shards * w % total orders them as the fractions do.
    order = sorted(range(len(weights)), key=lambda i: (-(shards * weights[i] % total), i))
    for i in order[:shards - sum(counts)]:
        counts[i] += 1
    return counts


def place(shards: int, engines: Sequence[EnginePlace]) -> list[EnginePlace]:
    """The engine of each shard, shard 1 first: each engine's share in turn, in the order named."""
    placed: list[EnginePlace] = []
    for engine, count in zip(engines, apportion(shards, [e.cpus for e in engines]), strict=True):
        placed += [engine] * count
    return placed


def resolve(entries: Sequence[str], *, address: Callable[[str], str] | None = None,
            cpus_of: Callable[[str], int] | None = None) -> list[EnginePlace]:
    """The engines ``entries`` name (``engines`` setting entries: NAME or NAME=CPUS), each asked
    its CPUs unless given; ConfigError naming an engine that cannot be reached or named twice."""
    address = address or _address
    cpus_of = cpus_of or _cpus
    found: list[EnginePlace] = []
    for entry in entries:
        name, cpus = engine_entry(entry)
        host = address(name)
        if any(e.host == host for e in found):
            raise ConfigError(f"engines: {name!r} is the same engine as "
                              f"{next(e.name for e in found if e.host == host)!r} ({host})",
                              hint="name each engine once")
        try:
            weight = cpus if cpus is not None else cpus_of(host)
        except EnvctlError as exc:
            raise ConfigError(f"engine {name!r} ({host}) cannot be reached: {exc.message}",
                              hint="start it, or leave it out of engines / --engines") from None
        found.append(EnginePlace(name, host, weight))
    return found


def _address(name: str) -> str:
    from envctl.docker.context import engine_address  # noqa: PLC0415

    return engine_address(name)


def _cpus(host: str) -> int:
    from envctl.docker import timeouts  # noqa: PLC0415
    from envctl.docker.engine import Engine  # noqa: PLC0415  # lazy: the SDK is heavy

    with Engine(timeout=timeouts.PROMPT, host=host) as engine:
        return engine.cpus()
