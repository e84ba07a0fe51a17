"""Streams from the engine: opened under the client's deadline, then read without one.

An attach, a followed log and the event stream stay open as long as their container or run
lives, so their reads can have no socket timeout. Their *opening* can: an engine that accepts
the connection and never answers must not hang the collector. So each is opened on a bounded
client (the request and its response headers within the client's timeout) and only then is
the socket's timeout lifted (what ends the read: :mod:`timeouts`' ``Unbounded`` values).

The docker SDK opens the event stream with no timeout at all (``timeout=None``), so it is
opened here; an attach keeps its socket's timeout, so it is lifted here. Both use the SDK's
response helpers, which have kept their names since docker-py 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from envctl.docker import timeouts

if TYPE_CHECKING:
    from docker import APIClient


def read_without_deadline(api: APIClient, response: Any, why: timeouts.Unbounded) -> None:
    """Lift the socket timeout of an opened ``response`` (``why`` says what ends its reads)."""
    del why  # the reason is for the reader of the call site
    sdk = cast("Any", api)  # the SDK's stubs omit its private helpers
    sock = sdk._get_raw_response_socket(response)  # the SDK's own way to the socket
    sdk._disable_socket_timeout(sock)  # as the SDK does for a followed log


class EventStream(Iterator[Any]):
    """The engine's events (decoded dicts) until ``close``, which another thread may call: it
    shuts the socket down, waking a read blocked on a quiet engine."""

    def __init__(self, items: Iterator[Any], response: Any) -> None:
        self.items = items
        self.response = response

    def __next__(self) -> Any:
        return next(self.items)

    def close(self) -> None:
        from docker.types import CancellableStream  # noqa: PLC0415  # lazy: the SDK is heavy

        ssh = _ssh_process(self.response)
        if ssh is not None:
            # ssh:// through the `ssh` program: closing the response would wait on the read
            # blocked in another thread; ending the process ends that read first (the SDK's
            # own close knows no such transport).
            ssh.terminate()
            self.response.close()
            return
        try:  # the SDK's own close: a shutdown of the socket under the response
            CancellableStream(self.items, self.response).close()
        except Exception:  # a transport it does not know: closing the response ends it too
            self.response.close()


def _ssh_process(response: Any) -> Any:
    """The `ssh` process carrying ``response`` (the SDK's ssh:// transport through the `ssh`
    program reads the process's stdout, which it tags with a ``channel``), or None."""
    try:
        channel = response.raw._fp.fp.channel
    except AttributeError:
        return None
    return getattr(channel, "proc", None)


def open_events(api: APIClient, params: dict[str, Any]) -> EventStream:
    """The engine's event stream: the request and its headers within the client's timeout (the
    engine answers them at once), then read until closed."""
    sdk = cast("Any", api)  # the SDK's stubs omit its private helpers
    response = sdk._get(sdk._url("/events"), params=params, stream=True)  # the SDK's events() has no timeout
    sdk._raise_for_status(response)  # an error status is an APIError, as events() gives
    read_without_deadline(api, response, timeouts.RUN_EVENTS)
    return EventStream(sdk._stream_helper(response, decode=True), response)  # the SDK's chunked JSON reader
