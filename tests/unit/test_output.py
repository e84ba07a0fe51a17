"""A container's output through a stand-in API: the stored log, and an attach followed to the
container's exit, whole or reported incomplete."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest

from envctl.docker.containers import Containers
from envctl.docker.output import Output, guarded
from envctl.errors import DockerError
from tests.unit.fake_api import Each, FakeAPI, Stream, api_error, not_found

RUNNING = {"Id": "c1", "State": {"Status": "running"}}
EXITED = {"Id": "c1", "State": {"Status": "exited", "ExitCode": 3,
                                "StartedAt": "2026-12-04T18:00:00.5Z"}}


def output(**answers: Any) -> tuple[Output, FakeAPI]:
    api = FakeAPI(**answers)
    fake = cast("Any", api)
    return Output(fake, Containers(fake)), api


def test_the_stored_log_from_its_first_byte() -> None:
    """Every chunk, in order; the whole log unless a tail is asked."""
    out, api = output(logs=Stream([b"a", b"b"]))
    assert list(out.stored("c1", follow=True)) == [b"a", b"b"]
    assert list(out.stored("c1", follow=False, tail=5)) == [b"a", b"b"]
    assert [kwargs["tail"] for _args, kwargs in api.called("logs")] == ["all", 5]
    assert [kwargs["follow"] for _args, kwargs in api.called("logs")] == [True, False]


def test_the_stored_log_of_a_gone_container_is_empty() -> None:
    """Removed before the read, or while reading: the stream just ends."""
    out, _api = output(logs=not_found())
    assert list(out.stored("c1", follow=False)) == []
    cut, _api = output(logs=Stream([b"a"], error=not_found()))
    assert list(cut.stored("c1", follow=False)) == [b"a"]


def test_a_stream_error_is_an_envctl_error() -> None:
    """Another engine error while reading says what was being read."""
    with pytest.raises(DockerError, match="reading the test container's output"):
        list(guarded(Stream([b"a"], error=api_error(500))))


def test_an_attach_copies_everything_to_the_exit() -> None:
    """Attached while running: each chunk reaches the sink, the exit code comes back, complete."""
    out, api = output(attach=Stream([b"one\n", b"two\n"]), inspect_container=RUNNING,
                      wait={"StatusCode": 0})
    got: list[bytes] = []
    attached: list[bool] = []
    assert out.follow("c1", got.append, on_attached=lambda: attached.append(True)) == (0, True)
    assert got == [b"one\n", b"two\n"]
    assert attached == [True]
    assert api.called("attach") == [(("c1",), {"stdout": True, "stderr": True, "stream": True,
                                               "logs": True})]


def test_an_attach_that_brought_nothing_is_incomplete() -> None:
    """An attach that ends without a byte: the stored log is the better source."""
    out, _api = output(attach=Stream([]), inspect_container=RUNNING, wait={"StatusCode": 0})
    assert out.follow("c1", lambda _chunk: None) == (0, False)


def test_an_attach_to_a_stopped_container_is_incomplete_at_once() -> None:
    """Not running once attached: its exit code, incomplete, and the attach closed."""
    stream = Stream([b"late"])
    out, api = output(attach=stream, inspect_container=EXITED)
    assert out.follow("c1", lambda _chunk: None) == (3, False)
    assert stream.closed
    assert api.called("wait") == []


def test_an_attach_to_a_gone_container() -> None:
    """Gone at the attach, or by the inspect after it: no exit code."""
    out, _api = output(attach=not_found())
    assert out.follow("c1", lambda _chunk: None) == (None, False)
    later, _api = output(attach=Stream([]), inspect_container=not_found())
    assert later.follow("c1", lambda _chunk: None) == (None, False)


def test_a_container_removed_during_the_wait_has_no_exit_code() -> None:
    """The wait finds it removed: the output still counts."""
    out, _api = output(attach=Stream([b"x"]), inspect_container=RUNNING, wait=not_found())
    assert out.follow("c1", lambda _chunk: None) == (None, True)


def test_a_failing_gate_closes_the_attach() -> None:
    """``on_attached`` raising: the attach is closed and the error goes on."""
    stream = Stream([])
    out, _api = output(attach=stream)

    def refuse() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        out.follow("c1", lambda _chunk: None, on_attached=refuse)
    assert stream.closed


class Hanging(Stream):
    """An attach that stays open after its container exited, until closed."""

    def __init__(self) -> None:
        super().__init__([b"partial"])
        self.released = threading.Event()

    def __iter__(self) -> Iterator[Any]:
        yield from self.chunks
        self.released.wait()
        raise OSError("closed")

    def close(self) -> None:
        self.closed = True
        self.released.set()


def test_an_attach_that_hangs_after_the_exit_is_closed_and_incomplete() -> None:
    """No byte for ``grace`` after the exit: the attach is closed, reported incomplete."""
    stream = Hanging()
    out, _api = output(attach=stream, inspect_container=Each(RUNNING), wait={"StatusCode": 1})
    assert out.follow("c1", lambda _chunk: None, grace=0.01) == (1, False)
    assert stream.closed
