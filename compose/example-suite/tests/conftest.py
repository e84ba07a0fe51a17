"""Shared clients for the example suite: one HTTP client and one Redis client per session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

API_URL = os.environ.get("API_URL", "http://api:8000")


@pytest.fixture(scope="session")
async def api() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=API_URL, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
async def cache() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(os.environ.get("REDIS_URL", "redis://cache:6379/1"))
    yield client
    await client.aclose()
