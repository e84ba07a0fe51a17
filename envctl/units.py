"""Parsing of the human units used in settings and flags: sizes ("2g") and durations ("90s")."""

from __future__ import annotations

import math
import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_SIZE_FACTORS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?", re.IGNORECASE)
_DURATION_FACTORS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


MAX_SIZE = 1 << 60  # an exbibyte: more is a typo (a 400-digit number would crash int(float(...)))


def parse_size(value: object) -> int:
    """Bytes from an int or a string such as "512m", "2g", "1.5GiB" (binary units, like Docker)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512m or 2g")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        match = _SIZE.match(value)
        if match is None:
            raise ValueError(f"{value[:40]!r} is not a size; use a number with b, k, m, g or t (e.g. 2g)")
        number, unit = match.groups()
        scaled = float(number) * _SIZE_FACTORS[unit.lower()]
        if not math.isfinite(scaled) or scaled > MAX_SIZE:
            raise ValueError("at most 1 EiB")
        size = int(scaled)
    else:
        raise ValueError("expected a size such as 512m or 2g")
    if size < 0:
        raise ValueError("a size cannot be negative")
    if size > MAX_SIZE:
        raise ValueError("at most 1 EiB")
    return size


MAX_DURATION = 366 * 86400.0  # a year: longer is a typo (or an attack), and inf breaks JSON


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as "90", "90s", "2m30s", "1h", "14d"."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 5m or 2h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = list(_DURATION.finditer(text))
        if not text or "".join(p.group(0) for p in parts) != text:
            raise ValueError(f"{value!r} is not a duration; use e.g. 90s, 5m, 2h or 14d")
        if len(parts) > 1 and any(p.group(2) is None for p in parts):
            raise ValueError(f"{value!r} is not a duration; give each part a unit, e.g. 2m30s")
        seconds = sum(float(p.group(1)) * _DURATION_FACTORS[(p.group(2) or "s").lower()] for p in parts)
    else:
        raise ValueError("expected a duration such as 90s, 5m or 2h")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        raise ValueError(f"{value!r} is too long; at most {MAX_DURATION / 86400:g}d")
    return seconds


def format_size(n_bytes: int) -> str:
    """A short human size: 2g, 512m, 1.5k."""
    for unit, factor in (("t", 1 << 40), ("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if n_bytes >= factor:
            value = n_bytes / factor
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{n_bytes}b"


def format_duration(seconds: float) -> str:
    """A short human duration: 45s, 3m05s, 1h02m ("?" for what is no duration)."""
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_DURATION:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"
