"""One-shot schema migration, run by the `migrate` service before `api` starts."""

import os

import psycopg

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    value JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""

if __name__ == "__main__":
    with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=10) as conn:
        conn.execute(SCHEMA)
    print("migrate: schema ready")
