"""Text from elsewhere (a test container, a JUnit file), made safe to show on one line."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean_text(value: object, cap: int = 4000) -> str:
    """``value`` on one line: control characters (newlines, escapes) become '?', cut at ``cap``."""
    return _CONTROL.sub("?", str(value))[:cap]


def has_control(value: str) -> bool:
    return _CONTROL.search(value) is not None


TAIL_LINES = 12  # a failure's last traceback lines that are kept (from events, or from JUnit)
TAIL_WIDTH = 240  # characters of each


def tail_of(lines: list[str]) -> tuple[str, ...]:
    """A traceback's last lines, each made safe to show on one line and cut."""
    return tuple(clean_text(line, TAIL_WIDTH) for line in lines[-TAIL_LINES:])
