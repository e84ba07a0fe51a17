"""Showing a run's output (envctl/ui/follow.py): the foreground test and `envctl logs`, with the
control and the container's output faked; interleaved shard logs, whole lines only."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envctl.runs import control, lifecycle
from envctl.runs.outcome import EndFacts
from envctl.runs.run import Run
from envctl.runs.state import RunRecord
from envctl.runs.store import RunStore
from envctl.ui.follow import PrefixedLines, follow, print_log
from envctl.ui.pipes import Outliving
from envctl.verbs import logs
from tests.unit.run_dirs import OTHER_ID, RUN_ID, make_run


def test_lines_are_written_whole_with_their_prefix(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """Pieces of a line wait for its end; a last line without a newline is ended on close."""
    lines = PrefixedLines(b"[1/2] ", threading.Lock())
    lines.write(b"....")
    assert capsysbinary.readouterr().out == b""
    lines.write(b"F  [50%]\nsecond\nthi")
    assert capsysbinary.readouterr().out == b"[1/2] ....F  [50%]\n[1/2] second\n"
    lines.write(b"rd")
    lines.close()
    assert capsysbinary.readouterr().out == b"[1/2] third\n"


def test_a_line_longer_than_the_limit_goes_out_in_pieces(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """A 100-byte line with a 40-byte limit: never more than 40 bytes held back."""
    lines = PrefixedLines(b"> ", threading.Lock(), max_line=40)
    lines.write(b"x" * 100)
    assert lines.pending == b"x" * 20
    lines.close()
    expected = [b"> " + b"x" * 40 + b"\n"] * 2 + [b"> " + b"x" * 20 + b"\n"]
    assert capsysbinary.readouterr().out == b"".join(expected)


def fake_run(monkeypatch: pytest.MonkeyPatch, run_dir: Path, *, chunks: list[bytes],
             exit_code: int = 1) -> list[str]:
    """control and the container's output faked: the run starts, prints ``chunks`` and ends."""
    calls: list[str] = []

    def wait_for(path: Path, **kwargs: Any) -> RunRecord:
        calls.append("until started" if "until" in kwargs else "to the end")
        if "until" not in kwargs and not RunRecord.load(path).state.terminal:
            lifecycle.finish(path, EndFacts(exit_code=exit_code))
        return RunRecord.load(path)

    def container_output(container: str, *, tail: int | None = None,
                         host: str | None = None) -> Iterator[bytes]:
        calls.append(f"stream {container} {tail}" + (f" on {host}" if host else ""))
        yield from chunks

    monkeypatch.setattr(control, "wait_for", wait_for)
    def take_over(_path: Path) -> bool:
        calls.append("take over")
        return True

    monkeypatch.setattr(control, "take_over", take_over)
    monkeypatch.setattr(logs, "container_output", container_output)
    return calls


def test_follow_streams_the_container_and_ends_with_its_code(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """The foreground test: the container's output, the summary, pytest's exit code."""
    run_dir = make_run(tmp_path)
    calls = fake_run(monkeypatch, run_dir, chunks=[b"collected 1 item\n", b"F\n"])
    assert follow(run_dir) == 1
    out, err = capsysbinary.readouterr()
    assert out == b"collected 1 item\nF\n"
    assert err.startswith(f"envctl: run {RUN_ID} failed in".encode())
    assert calls == ["until started", "stream c None", "to the end"]


def closed_pipe() -> Any:
    """A text stream on a pipe whose reader already left (as `| head` leaves it)."""
    read, write = os.pipe()
    os.close(read)
    return os.fdopen(write, "w", buffering=1, encoding="utf-8")  # line-buffered, as stderr


def test_a_reader_that_leaves_never_turns_the_run_into_a_success(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`envctl test 2>&1 | head`: stdout and stderr on a pipe nobody reads; the output and the
    summary go nowhere, and the answer is the run's exit code (1: a test failed)."""
    run_dir = make_run(tmp_path)
    fake_run(monkeypatch, run_dir, chunks=[b"collected 1 item\n" * 5000, b"F\n"], exit_code=1)
    with closed_pipe() as out, closed_pipe() as err:
        monkeypatch.setattr(sys, "stdout", Outliving(out))
        monkeypatch.setattr(sys, "stderr", Outliving(err))
        assert follow(run_dir) == 1
        for stream in (sys.stdout, sys.stderr):  # as boundary.leave does on the way out
            stream.flush()


def ctrl_c_while_following(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """control faked: Ctrl-C comes while the run is followed; what was asked of the run, in order."""
    asked: list[str] = []

    def interrupted(_path: Path, **_kwargs: Any) -> RunRecord:
        raise KeyboardInterrupt

    def stop(path: Path) -> RunRecord:
        asked.append("stop")
        lifecycle.finish(path, EndFacts(exit_code=2, cancel_requested=True))
        return RunRecord.load(path)

    monkeypatch.setattr(control, "wait_for", interrupted)
    monkeypatch.setattr(control, "request_stop", lambda _path: asked.append("request"))
    monkeypatch.setattr(control, "stop", stop)
    return asked


def test_ctrl_c_with_no_reader_left_still_stops_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C ends `| tee` first: the message meets a closed pipe, the stop is still asked for
    and made, and the answer is 130."""
    run_dir = make_run(tmp_path)
    asked = ctrl_c_while_following(monkeypatch)
    with closed_pipe() as err:
        monkeypatch.setattr(sys, "stderr", Outliving(err))
        assert follow(run_dir) == 130
        sys.stderr.flush()  # as boundary.leave does on the way out
    assert asked == ["request", "stop"]


def test_ctrl_c_in_the_foreground_stops_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C: the stop is asked for, the run stopped, its summary printed, exit 130."""
    run_dir = make_run(tmp_path)
    asked = ctrl_c_while_following(monkeypatch)
    assert follow(run_dir) == 130
    assert asked == ["request", "stop"]
    assert "stopping the run (interrupt, then terminate, then kill" in capsys.readouterr().err


def test_print_log_whole_tail_and_stamped(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """An ended run's log: whole, its last lines, or each line behind its time."""
    run_dir = make_run(tmp_path, exit_code=0, log=b"a\nb\n")
    run = Run(RunStore(run_dir.parent), RUN_ID)
    print_log(run, follow=False, tail=None)
    print_log(run, follow=True, tail=1)
    assert capsysbinary.readouterr().out == b"a\nb\nb\n"
    print_log(run, follow=False, tail=1, timestamps=True)
    assert capsysbinary.readouterr().out.endswith(b"b\n")
    print_log(run, follow=False, tail=0, timestamps=True)
    assert capsysbinary.readouterr().out == b""


def test_print_log_followed_takes_the_run_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """`logs -f` of a running run: someone must record its end; the output is the container's."""
    run_dir = make_run(tmp_path)
    calls = fake_run(monkeypatch, run_dir, chunks=[b"live\n"])
    print_log(Run(RunStore(run_dir.parent), RUN_ID), follow=True, tail=5)
    assert capsysbinary.readouterr().out == b"live\n"
    assert calls == ["take over", "until started", "stream c 5"]


def test_a_shards_parent_prints_each_shard_under_a_header(
        tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """Each shard's log in turn, behind `==> shard K/N (id) <==`."""
    parent = make_run(tmp_path, RUN_ID, exit_code=0)
    make_run(tmp_path, OTHER_ID, exit_code=0, log=b"dots...")
    lifecycle.add_child(parent, OTHER_ID)
    print_log(Run(RunStore(parent.parent), RUN_ID), follow=False, tail=None)
    assert capsysbinary.readouterr().out == f"==> shard None ({OTHER_ID}) <==\ndots...".encode()
