"""The engine's event stream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from envctl.docker import streams
from envctl.docker.translate import translate_errors

if TYPE_CHECKING:
    from docker import APIClient


def stamp(moment: float | None) -> Any:
    """A time for ``since``/``until`` to the nanosecond: the engine reads "seconds.fraction" (the
    SDK passes a string through; its stubs say int)."""
    return None if moment is None else f"{moment:.9f}"


def subscribe(api: APIClient, *, filters: dict[str, Any], since: float | None = None,
              until: float | None = None) -> Any:
    """The engine's event stream (decoded dicts), closed by the caller. ``since``/``until``
    to the nanosecond, not to the whole second. Subscribing has the client's deadline; reading
    has none (see :mod:`streams`)."""
    from docker.utils import convert_filters  # noqa: PLC0415  # lazy: the SDK is heavy

    params = {"since": stamp(since), "until": stamp(until),
              "filters": convert_filters(filters) if filters else None}
    with translate_errors("subscribing to engine events"):
        return streams.open_events(api, params)
