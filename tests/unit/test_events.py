"""The engine's event stream: subscribed with filters, to the nanosecond."""

from __future__ import annotations

from typing import Any, cast

import pytest

from envctl.docker.events import stamp, subscribe
from envctl.errors import DockerError
from tests.unit.fake_api import FakeAPI, Stream, api_error


def test_times_are_sent_to_the_nanosecond() -> None:
    """Seconds and a nine-digit fraction, not a whole second; no time is None."""
    assert stamp(1764873600.25) == "1764873600.250000000"
    assert stamp(12.5) == "12.500000000"
    assert stamp(None) is None


def test_subscribe_asks_for_the_filtered_events_then_lifts_the_deadline() -> None:
    """Opened within the client's deadline, then read without one until the caller closes it."""
    stream = Stream([{"Type": "container"}])
    api = FakeAPI(events=stream)
    filters = {"label": ["io.envctl.project=p"], "type": ["container"]}
    opened = subscribe(cast("Any", api), filters=filters, since=1.5)
    assert api.called("events") == [((), {"params": {
        "filters": '{"label": ["io.envctl.project=p"], "type": ["container"]}',
        "since": "1.500000000", "until": None}})]
    assert api.called("disable_socket_timeout") == [((stream,), {})]
    assert list(opened) == [{"Type": "container"}]
    opened.close()
    assert stream.closed is True


def test_a_refused_subscription_says_what_failed() -> None:
    """An engine error becomes a DockerError naming the subscription."""
    api = FakeAPI(events=api_error(500, "overloaded"))
    with pytest.raises(DockerError, match=r"^subscribing to engine events: overloaded$"):
        subscribe(cast("Any", api), filters={})
