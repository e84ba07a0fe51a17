"""The engine's stats read into one bounded sample: cgroup v1 and v2 shapes, hostile numbers,
the stream that ends at a stopped container's first empty sample (no engine)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from envctl.docker.engine import Engine
from envctl.docker.stats import ContainerStats, cpu_percent, from_stats, open_stats
from envctl.errors import ContainerGoneError
from tests.unit.fake_api import FakeAPI, Stream, not_found

# What engine 20.10 on cgroup v1 sends (trimmed): max_usage, and total_inactive_file for the
# whole hierarchy beside inactive_file.
V1 = {
    "read": "2026-12-07T06:04:50.407257206Z",
    "pids_stats": {"current": 37},
    "cpu_stats": {"cpu_usage": {"total_usage": 3_029_014_202, "percpu_usage": [1, 2]},
                  "system_cpu_usage": 2_566_870_000_000, "online_cpus": 2},
    "precpu_stats": {"cpu_usage": {"total_usage": 1_229_014_202},
                     "system_cpu_usage": 2_564_870_000_000, "online_cpus": 2},
    "memory_stats": {"usage": 432_013_312, "max_usage": 522_190_848, "limit": 1 << 30,
                     "stats": {"cache": 40_000_000, "inactive_file": 1_000, "total_inactive_file": 12_582_912,
                               "rss": 380_000_000}},
}
# cgroup v2: no max_usage; inactive_file (no total_ prefix); pids with their limit.
V2 = {
    "pids_stats": {"current": 12, "limit": 1024},
    "cpu_stats": {"cpu_usage": {"total_usage": 500_000_000}, "system_cpu_usage": 20_000_000_000,
                  "online_cpus": 4},
    "precpu_stats": {"cpu_usage": {"total_usage": 0}},
    "memory_stats": {"usage": 104_857_600, "limit": 536_870_912,
                     "stats": {"anon": 90_000_000, "file": 14_000_000, "inactive_file": 4_857_600}},
}


def test_a_cgroup_v1_sample_keeps_the_cgroups_own_figures() -> None:
    """Usage with the cache, the working set apart, v1's own peak, CPU over the sample before."""
    assert from_stats(V1) == ContainerStats(memory=432_013_312, working_set=432_013_312 - 12_582_912,
                                            peak=522_190_848, limit=1 << 30, cpu=180.0, pids=37)


def test_a_cgroup_v2_sample_has_no_peak_and_no_cpu_without_a_sample_before() -> None:
    """v2's API gives no peak; the stream's first sample has no CPU figure."""
    assert from_stats(V2) == ContainerStats(memory=104_857_600, working_set=100_000_000, peak=None,
                                            limit=536_870_912, cpu=None, pids=12)


@pytest.mark.parametrize("hostile", [
    {"usage": -5}, {"usage": True}, {"usage": 1.5e9}, {"usage": "512"}, {"usage": 10**400},
    {"usage": 1 << 63},
])
def test_a_number_out_of_bounds_is_unknown(hostile: dict[str, Any]) -> None:
    """Negative, boolean, float, string or huge: no figure, never a crash."""
    assert from_stats({"memory_stats": hostile, "pids_stats": {"current": 3}}) == ContainerStats(pids=3)


def test_an_inactive_cache_larger_than_the_usage_leaves_a_working_set_of_zero() -> None:
    """The engine's two figures are read at different moments: never a negative working set."""
    stats = from_stats({"memory_stats": {"usage": 100, "stats": {"inactive_file": 500}}})
    assert (stats.memory, stats.working_set) == (100, 0)


@pytest.mark.parametrize("payload", [None, [], "x", {"memory_stats": [], "pids_stats": "1"}, {}])
def test_a_sample_that_is_no_object_is_an_empty_one(payload: object) -> None:
    """Anything but the documented shape reads as a stopped container's empty sample."""
    assert from_stats(payload) == ContainerStats()
    assert from_stats(payload).running is False


def test_cpu_needs_the_machines_time_to_have_moved_forward() -> None:
    """No elapsed system time, or a counter that went back, gives no CPU figure."""
    now = {"cpu_usage": {"total_usage": 10}, "system_cpu_usage": 100, "online_cpus": 1}
    assert cpu_percent(now, {"cpu_usage": {"total_usage": 5}, "system_cpu_usage": 100}) is None
    assert cpu_percent(now, {"cpu_usage": {"total_usage": 50}, "system_cpu_usage": 50}) is None
    assert cpu_percent(now, {"cpu_usage": {"total_usage": 5}, "system_cpu_usage": 90}) == 50.0


def test_cpu_counts_the_per_cpu_list_when_online_cpus_is_missing() -> None:
    """Older engines name no online_cpus: the per-CPU list's length stands in."""
    now = {"cpu_usage": {"total_usage": 20, "percpu_usage": [10, 10]}, "system_cpu_usage": 100}
    assert cpu_percent(now, {"cpu_usage": {"total_usage": 10}, "system_cpu_usage": 90}) == 200.0


class StatsAPI(FakeAPI):
    """A FakeAPI that answers a GET of a container's stats with the "stats" answer."""

    def _get(self, url: str, *, params: dict[str, Any], stream: bool,
             headers: dict[str, str] | None = None) -> Any:
        assert stream
        return self._answer("stats", url, params=params)

    def _raise_for_status(self, response: Any) -> None:
        if isinstance(response, BaseException):
            raise response


def test_the_stream_ends_at_the_first_empty_sample() -> None:
    """A stopped container's stream goes on with empty samples forever: reading stops there."""
    stream = Stream([V2, V1, {"memory_stats": {}, "pids_stats": {}}, V1])
    api = StatsAPI(stats=stream)
    samples = open_stats(cast("Any", api), "c1")
    assert [s.memory for s in samples] == [104_857_600, 432_013_312]
    assert api.called("stats") == [(("/containers/c1/stats",), {"params": {"stream": True}})]
    samples.close()
    assert stream.closed is True


def test_a_gone_container_is_container_gone() -> None:
    """The engine's 404 is ContainerGoneError, saying what was asked."""
    api = StatsAPI(stats=not_found())
    with pytest.raises(ContainerGoneError, match=r"^asking for a container's resource use: "):
        open_stats(cast("Any", api), "c1")


def test_the_engine_hands_stats_to_its_noun(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engine.stats is the stats module's stream on the engine's own client."""
    api = StatsAPI(stats=Stream([V1]))

    class Client:
        def __init__(self) -> None:
            self.api = api

    monkeypatch.setattr("envctl.docker.engine.connect", lambda *_a, **_k: Client())
    assert [s.pids for s in Engine().stats("c1")] == [37]
