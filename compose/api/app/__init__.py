"""A small items service: PostgreSQL stores, Redis caches."""
