"""Items round-trip through PostgreSQL, and reads are cached in Redis."""

import uuid

import pytest

VALUES = [0, 1, -1, 3.5, "text", "ünïcode ✓", True, None, [], [1, 2, 3], {}, {"a": {"b": [1, None]}}]


def key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize("value", VALUES, ids=[f"v{i}" for i in range(len(VALUES))])
async def test_put_then_get_returns_the_value(api, value):
    k = key("rt")
    assert (await api.put(f"/items/{k}", json=value)).status_code == 201
    response = await api.get(f"/items/{k}")
    assert response.status_code == 200
    assert response.json() == value


@pytest.mark.parametrize("n", range(100))
async def test_second_read_is_a_cache_hit(api, n):
    k = key(f"hit{n}")
    await api.put(f"/items/{k}", json={"n": n})
    first = await api.get(f"/items/{k}")
    second = await api.get(f"/items/{k}")
    assert first.headers["X-Cache"] == "miss"
    assert second.headers["X-Cache"] == "hit"
    assert second.json() == {"n": n}


@pytest.mark.parametrize("n", range(60))
async def test_update_invalidates_the_cache(api, n):
    k = key(f"upd{n}")
    await api.put(f"/items/{k}", json=n)
    await api.get(f"/items/{k}")
    assert (await api.put(f"/items/{k}", json=n + 1)).status_code == 200
    response = await api.get(f"/items/{k}")
    assert response.headers["X-Cache"] == "miss"
    assert response.json() == n + 1


@pytest.mark.parametrize("n", range(40))
async def test_delete_removes_the_item(api, n):
    k = key(f"del{n}")
    await api.put(f"/items/{k}", json=[n])
    assert (await api.delete(f"/items/{k}")).status_code == 204
    assert (await api.get(f"/items/{k}")).status_code == 404
    assert (await api.delete(f"/items/{k}")).status_code == 404


async def test_listing_contains_new_keys(api):
    keys = [key("list") for _ in range(5)]
    for k in keys:
        await api.put(f"/items/{k}", json=k)
    listed = (await api.get("/items")).json()["keys"]
    assert set(keys) <= set(listed)


@pytest.mark.parametrize("bad", ["not json", "{", "[1,"])
async def test_invalid_json_is_rejected(api, bad):
    response = await api.put(f"/items/{key('bad')}", content=bad)
    assert response.status_code == 400


async def test_cached_value_is_in_redis(api):
    import redis.asyncio as aioredis  # the api's own cache db (0), not the suite's

    k = key("redis")
    await api.put(f"/items/{k}", json={"x": 1})
    await api.get(f"/items/{k}")
    client = aioredis.Redis.from_url("redis://cache:6379/0")
    try:
        assert await client.get(f"item:{k}") == b'{"x": 1}'
        assert 0 < await client.ttl(f"item:{k}") <= 60
    finally:
        await client.aclose()


@pytest.mark.skip(reason="bulk import is not implemented by the api yet")
async def test_bulk_import(api):
    raise AssertionError("unreachable")


@pytest.mark.skip(reason="pagination is planned")
@pytest.mark.parametrize("page", range(3))
async def test_pagination(api, page):
    raise AssertionError("unreachable")
