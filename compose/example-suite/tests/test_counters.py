"""Counters live in Redis and count up atomically under concurrency."""

import asyncio
import uuid

import pytest


@pytest.mark.parametrize("increments", [1, 2, 5, 10, 25])
async def test_counter_counts(api, increments):
    name = f"c-{uuid.uuid4().hex[:10]}"
    for _ in range(increments):
        response = await api.post(f"/counters/{name}")
    assert response.json() == {"value": increments}


@pytest.mark.parametrize("parallel", [4, 16, 32])
async def test_concurrent_increments_are_not_lost(api, parallel):
    name = f"p-{uuid.uuid4().hex[:10]}"
    await asyncio.gather(*(api.post(f"/counters/{name}") for _ in range(parallel)))
    assert (await api.post(f"/counters/{name}")).json() == {"value": parallel + 1}


@pytest.mark.parametrize("n", range(30))
async def test_suite_redis_db_is_separate(cache, n):
    k = f"suite-{uuid.uuid4().hex[:8]}"
    await cache.set(k, n, ex=30)
    assert int(await cache.get(k)) == n


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(3))
async def test_sustained_load(api, round_):
    name = f"load-{uuid.uuid4().hex[:8]}"
    for _ in range(200):
        await api.post(f"/counters/{name}")
    await asyncio.sleep(0.5)
    assert (await api.post(f"/counters/{name}")).json() == {"value": 201}


@pytest.mark.slow
async def test_cache_entry_expires_slowly(cache):
    k = f"exp-{uuid.uuid4().hex[:8]}"
    await cache.set(k, 1, px=800)
    await asyncio.sleep(1.0)
    assert await cache.get(k) is None


@pytest.mark.skip(reason="rate limiting is not deployed in the test environment")
async def test_rate_limit(api):
    raise AssertionError("unreachable")
