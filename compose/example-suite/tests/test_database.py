"""What the api writes is really in PostgreSQL (checked with a direct connection)."""

import os
import uuid

import psycopg
import pytest


@pytest.fixture(scope="module")
def conn():
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True, connect_timeout=10) as c:
        yield c


@pytest.mark.parametrize("n", range(25))
async def test_item_row_exists_after_put(api, conn, n):
    k = f"db-{n}-{uuid.uuid4().hex[:8]}"
    await api.put(f"/items/{k}", json={"n": n})
    row = conn.execute("SELECT value FROM items WHERE key = %s", (k,)).fetchone()
    assert row == ({"n": n},)


def test_schema_was_migrated(conn):
    columns = {r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'items'")}
    assert columns == {"key", "value", "updated_at"}


@pytest.mark.slow
def test_many_rows_insert_quickly(conn):
    prefix = f"bulk-{uuid.uuid4().hex[:8]}"
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO items (key, value) VALUES (%s, '1'::jsonb)",
                        [(f"{prefix}-{i}",) for i in range(2000)])
    count = conn.execute("SELECT count(*) FROM items WHERE key LIKE %s", (prefix + "%",)).fetchone()
    assert count == (2000,)
