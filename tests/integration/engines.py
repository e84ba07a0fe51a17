"""More Docker engines on this machine for the tests (the benchmarks start them the same way)."""

from __future__ import annotations

from bench.extra_engine import ExtraEngine, TlsFront, can_serve_ssh, can_start_engines

__all__ = ["ExtraEngine", "TlsFront", "can_serve_ssh", "can_start_engines"]
