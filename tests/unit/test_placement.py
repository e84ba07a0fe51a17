"""Shards placed on engines by their CPUs: the shares, their order, and the engines named."""

from __future__ import annotations

import pytest

from envctl.errors import ConfigError, EngineUnavailableError
from envctl.runs.placement import EnginePlace, apportion, place, resolve


@pytest.mark.parametrize(("shards", "weights", "expected"), [
    (4, [2, 2], [2, 2]),
    (3, [2, 2], [2, 1]),  # a tie: the engine named first takes the extra shard
    (5, [8, 2], [4, 1]),
    (6, [16, 2, 2], [5, 1, 0]),  # 4.8, 0.6, 0.6: the largest remainders first
    (1, [1, 4], [0, 1]),
    (0, [3], [0]),
    (7, [1, 1, 1], [3, 2, 2]),
])
def test_each_engine_gets_shards_in_proportion_to_its_cpus(shards: int, weights: list[int],
                                                          expected: list[int]) -> None:
    """Largest remainders: the shares add up to the shards, each within one of its exact share."""
    counts = apportion(shards, weights)
    assert counts == expected
    assert sum(counts) == shards


@pytest.mark.parametrize(("shards", "weights"), [(-1, [1]), (2, []), (2, [2, 0])])
def test_shares_need_shards_and_weights(shards: int, weights: list[int]) -> None:
    """No engine, a weight below 1 or negative shards is a caller's mistake."""
    with pytest.raises(ValueError, match="weights >= 1"):
        apportion(shards, weights)


def test_shards_go_to_each_engine_in_turn() -> None:
    """Shard 1 first: the first engine's share, then the next engine's."""
    a, b = EnginePlace("a", "unix:///a.sock", 4), EnginePlace("b", "ssh://ci@b", 2)
    assert place(5, [a, b]) == [a, a, a, b, b]
    assert place(3, [a, b]) == [a, a, b]


def test_engines_are_named_as_contexts_or_addresses_with_their_cpus() -> None:
    """Each entry's address and weight: the CPUs given (`=N`), else the engine's own count."""
    asked: list[str] = []

    def cpus_of(host: str) -> int:
        asked.append(host)
        return 6

    found = resolve(["default", "ssh://ci@box=16"],
                    address=lambda name: "unix:///var/run/docker.sock" if name == "default" else name,
                    cpus_of=cpus_of)
    assert found == [EnginePlace("default", "unix:///var/run/docker.sock", 6),
                     EnginePlace("ssh://ci@box", "ssh://ci@box", 16)]
    assert asked == ["unix:///var/run/docker.sock"]  # the one with =16 is not asked


def test_an_engine_that_does_not_answer_is_named() -> None:
    """Placement stops before any shard starts, saying which engine and why."""
    def cpus_of(_host: str) -> int:
        raise EngineUnavailableError("Cannot connect to the Docker daemon")

    with pytest.raises(ConfigError, match=r"engine 'b' \(unix:///b.sock\) cannot be reached: Cannot connect"):
        resolve(["b"], address=lambda name: f"unix:///{name}.sock", cpus_of=cpus_of)


def test_one_engine_under_two_names_is_refused() -> None:
    """A context and its own address are one engine: counted twice, it would get twice the shards."""
    with pytest.raises(ConfigError, match="'e2' is the same engine as 'default'"):
        resolve(["default", "e2"], address=lambda _name: "unix:///var/run/docker.sock",
                cpus_of=lambda _host: 2)
