"""Run ids: sortable, timestamped, validated before any path is built from them."""

from __future__ import annotations

import re
import time

from envctl.errors import UsageError

RUN_ID_PATTERN = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}", re.ASCII)  # not other scripts' digits
# The end of a run id, as people type it: its random part (`9d09`), or more of the id before it.
RUN_ID_SUFFIX = re.compile(r"(?:\d{1,8}-)?(?:\d{1,6}-)?[0-9a-f]{4}", re.ASCII)
LATEST = "latest"


def new_run_id(now: float | None = None) -> str:
    """``20260807-143022-ab12``: UTC time to the second, then 16 random bits."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    import secrets  # noqa: PLC0415  # a run's start alone needs it; readers are spared hashlib

    return f"{stamp}-{secrets.token_hex(2)}"


def shorten_id(value: str, limit: int = 60) -> str:
    """A would-be run id as an error message quotes it: repr'd, and cut if long."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} characters)"


def validate_run_id(value: str, *, suffix: bool = False) -> str:
    """``value`` if it is a well-formed run id (or "latest"; with ``suffix``, or the end of one,
    such as its random part ``ab12``); UsageError otherwise."""
    if value == LATEST or RUN_ID_PATTERN.fullmatch(value) or (suffix and RUN_ID_SUFFIX.fullmatch(value)):
        return value
    raise UsageError(f"{shorten_id(value)} is not a run id",
                     hint="run ids look like 20260807-143022-ab12 (or its end: ab12); "
                          "`envctl runs` lists them")


def complete_run_id(value: str, ids: list[str]) -> str:
    """The one id of ``ids`` that ``value`` (a whole id or its end) names; UsageError when the end
    names several, and ``value`` itself when it names none (the caller says it is not there)."""
    if RUN_ID_PATTERN.fullmatch(value):
        return value
    matches = [run_id for run_id in ids if run_id.endswith(value)]
    if len(matches) > 1:
        raise UsageError(f"{value!r} names {len(matches)} runs: {', '.join(matches[-5:])}",
                         hint="give more of the id")
    return matches[0] if matches else value
