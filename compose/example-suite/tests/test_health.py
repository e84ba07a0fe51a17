"""The api answers and sees both of its backing services."""

import pytest


async def test_health_reports_db_and_cache(api):
    response = await api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"db": "ok", "cache": "ok"}


async def test_unknown_path_is_404(api):
    response = await api.get("/nope")
    assert response.status_code == 404


@pytest.mark.parametrize("attempt", range(20))
async def test_health_is_stable(api, attempt):
    assert (await api.get("/health")).status_code == 200
