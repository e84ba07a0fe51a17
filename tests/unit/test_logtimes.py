"""`logs --timestamps`: the collector's time index, read back onto the lines of the log."""

from __future__ import annotations

from pathlib import Path

from envctl.runs.logfile import MIN_CAP, CappedLog
from envctl.runs.logtimes import UNKNOWN, StampedLines, TimeIndex, format_time, last_lines_offset


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def stamped(run_dir: Path, offset: int = 0) -> list[str]:
    out: list[bytes] = []
    lines = StampedLines(TimeIndex(run_dir), out.append, offset)
    lines.write((run_dir / "output.log").read_bytes()[offset:])
    lines.close()
    return b"".join(out).decode().splitlines()


def test_each_line_gets_the_time_its_chunk_arrived(tmp_path: Path) -> None:
    """Lines take the time of the chunk they start in; entries are at most 0.1 s apart."""
    clock = Clock()
    log = CappedLog(tmp_path, 1 << 20, clock=clock)
    log.write(b"first\nsecond ")
    clock.now += 0.05  # too soon for an entry of its own: still the first chunk's time
    log.write(b"half\nthird\n")
    clock.now += 1.0
    log.write(b"fourth\n")
    log.close()
    assert stamped(tmp_path) == [f"{format_time(1000.0)} first", f"{format_time(1000.0)} second half",
                                 f"{format_time(1000.0)} third", f"{format_time(1001.05)} fourth"]


def test_times_survive_the_cut_in_the_middle(tmp_path: Path) -> None:
    """A log cut to its cap: lines after the marker get their own (later) times, the marker none."""
    clock = Clock()
    log = CappedLog(tmp_path, MIN_CAP, clock=clock)
    for second in range(400):
        log.write(f"line {second:04d} ".encode() + b"x" * 990 + b"\n")
        clock.now += 1
    assert log.close() > 0
    lines = stamped(tmp_path)
    marker = next(i for i, line in enumerate(lines) if "bytes of output cut here" in line)
    assert lines[marker].startswith(UNKNOWN)
    last = lines[-1]
    assert last.startswith(format_time(1399.0)) and " line 0399 " in last
    first_after = next(line for line in lines[marker + 1:] if " line " in line)  # the tail starts mid-line
    number = int(first_after.split(" line ")[1][:4])
    assert first_after.startswith(format_time(1000.0 + number))


def test_a_collector_taking_over_keeps_the_first_ones_times(tmp_path: Path) -> None:
    """The replay of a new collector adds entries only past what the index already covers."""
    clock = Clock()
    first = CappedLog(tmp_path, 1 << 20, clock=clock)
    first.write(b"early\n")
    clock.now += 10
    first.write(b"later\n")
    first.head.close()  # killed: its files end where they were, nothing assembled
    first.times.close()
    clock.now += 100
    replay = CappedLog(tmp_path, 1 << 20, clock=clock)
    replay.write(b"early\nlater\nnew\n")
    replay.close()
    assert stamped(tmp_path) == [f"{format_time(1000.0)} early", f"{format_time(1010.0)} later",
                                 f"{format_time(1010.0)} new"]


def test_a_very_long_line_is_stamped_in_pieces(tmp_path: Path) -> None:
    """No newline for 200 KiB: pieces of at most max_line, each with a time."""
    index = TimeIndex(tmp_path)
    out: list[bytes] = []
    lines = StampedLines(index, out.append, max_line=1000)
    lines.write(b"y" * 2500)
    assert len(lines.pending) == 500
    lines.close()
    widths = [len(line) - len(UNKNOWN) - 1 for line in b"".join(out).splitlines()]
    assert widths == [1000, 1000, 500]


def test_last_lines_start_where_the_tail_begins(tmp_path: Path) -> None:
    """The offset of the last N lines, with or without a final newline."""
    path = tmp_path / "output.log"
    path.write_bytes(b"a\nbb\nccc\n")
    assert last_lines_offset(path, 2, 1024) == 2
    path.write_bytes(b"a\nbb\nccc")
    assert last_lines_offset(path, 1, 1024) == 5
    assert last_lines_offset(path, 9, 1024) == 0
