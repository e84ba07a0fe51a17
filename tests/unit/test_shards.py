"""Sharding: every test exactly once, deterministic, balanced by durations or by file."""

import pytest

from envctl.pytest_plugin.envctl_shards import parse_shard, split

NODEIDS = [f"tests/test_{f}.py::test_{i}" for f in "abcdefg" for i in range(1 + ord(f) % 5)]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 40])
def test_every_test_exactly_once(n: int) -> None:
    """The shards partition the collected tests."""
    shards = split(NODEIDS, n)
    flat = [t for shard in shards for t in shard]
    assert sorted(flat) == sorted(NODEIDS)
    assert len(shards) == n


def test_deterministic() -> None:
    """The same input gives the same split, whatever the order of the durations mapping."""
    durations = {n: (i % 7) / 10 for i, n in enumerate(NODEIDS)}
    reversed_durations = dict(reversed(list(durations.items())))
    assert split(NODEIDS, 3, durations) == split(NODEIDS, 3, reversed_durations)


def test_without_durations_files_stay_together() -> None:
    """No durations: each file is on one shard."""
    for shard in split(NODEIDS, 3):
        for nodeid in shard:
            file = nodeid.split("::")[0]
            assert all(other in shard for other in NODEIDS if other.startswith(file + "::"))


def test_durations_balance_time() -> None:
    """With durations the slowest shard is within 10% of the mean on a realistic spread."""
    nodeids = [f"t.py::test_{i}" for i in range(200)]
    durations = {n: 0.1 + (i % 13) * 0.05 for i, n in enumerate(nodeids)}
    shards = split(nodeids, 4, durations)
    loads = [sum(durations[n] for n in shard) for shard in shards]
    assert max(loads) / (sum(loads) / 4) <= 1.1


def test_unknown_tests_get_the_median_duration() -> None:
    """New tests without a recorded duration still land somewhere."""
    shards = split(["a::1", "a::2", "b::new"], 2, {"a::1": 5.0, "a::2": 1.0})
    assert sorted(t for s in shards for t in s) == ["a::1", "a::2", "b::new"]


def test_empty_shards_are_allowed() -> None:
    """More shards than tests: some shards are empty."""
    assert [len(s) for s in split(["a::1"], 3)] == [1, 0, 0]


@pytest.mark.parametrize(("text", "expected"), [("1/1", (1, 1)), ("2/4", (2, 4))])
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    """K/N with 1 <= K <= N."""
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/2", "3/2", "x/2", "2", "1/2/3"])
def test_parse_shard_rejects(text: str) -> None:
    """Anything else is a ValueError."""
    with pytest.raises(ValueError, match=r"shard|K must"):
        parse_shard(text)


def test_fewer_files_than_shards_splits_by_test() -> None:
    """One file, four shards, no durations: the tests are spread, not all on one shard."""
    nodeids = [f"tests/test_io.py::test_{i}" for i in range(200)]
    assert [len(s) for s in split(nodeids, 4)] == [50, 50, 50, 50]
