"""Interleaved shard logs: whole lines only, each behind its shard's prefix, memory bounded."""

from __future__ import annotations

import threading

import pytest

from envctl.ui.follow import PrefixedLines


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
