"""The capped log keeps the start and the end, says what it cut, and reads its tail cheaply."""

import resource
from pathlib import Path

from envctl.runs.logfile import TAIL_SEGMENTS, CappedLog, seal_orphaned, tail_lines


def test_small_output_is_kept_whole(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Under the cap, the log is exactly what was written, invalid UTF-8 included."""
    log = CappedLog(tmp_path, 1 << 20)
    log.write(b"a\xff\xfe\n")
    log.write(b"no newline")
    assert log.close() == 0
    assert (tmp_path / "output.log").read_bytes() == b"a\xff\xfe\nno newline"
    assert oct((tmp_path / "output.log").stat().st_mode & 0o777) == "0o600"


def test_big_output_is_capped_with_a_note(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Past the cap: head and tail kept, the middle cut and counted, segments cleaned up."""
    cap = 1 << 20
    log = CappedLog(tmp_path, cap)
    log.write(b"HEAD\n")
    for i in range(100):
        log.write(bytes([65 + i % 26]) * 100_000)
    log.write(b"\nTAIL")
    cut = log.close()
    data = (tmp_path / "output.log").read_bytes()
    assert data.startswith(b"HEAD\n")
    assert data.endswith(b"\nTAIL")
    assert f"[envctl: {cut} bytes of output cut here".encode() in data
    assert len(data) <= cap + 200
    # 10_000_010 bytes written; kept: the 512 KiB head, the older 256 KiB tail segment (full)
    # and the 38_538 bytes of the newer one (9_475_722 past the head, modulo 262_144).
    kept = 524_288 + 262_144 + 38_538
    assert cut == 10_000_010 - kept == 9_175_040
    marker = (f"\n[envctl: {cut} bytes of output cut here to keep the log under {cap} bytes; "
              "the start and the end are kept]\n").encode()
    assert len(data) == kept + len(marker)
    assert not any((tmp_path / s).exists() for s in TAIL_SEGMENTS)


def test_memory_does_not_grow_with_output(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Writing 300 MB in 1 MB chunks keeps the peak RSS about where it was."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    log = CappedLog(tmp_path, 4 << 20)
    chunk = b"z" * (1 << 20)
    for _ in range(300):
        log.write(chunk)
    log.close()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 50_000  # KiB


def test_tail_reads_the_newest_segment_while_running(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """During a capped run, the last lines come from the live tail segment."""
    log = CappedLog(tmp_path, 64 * 1024)
    for i in range(5000):
        log.write(f"line {i}\n".encode())
    log.flush()
    assert tail_lines(tmp_path, 2) == ["line 4998", "line 4999"]
    log.close()
    assert tail_lines(tmp_path, 1) == ["line 4999"]


def test_tail_of_a_missing_log_is_empty(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No log yet: no lines, no error."""
    assert tail_lines(tmp_path, 5) == []


def test_a_log_whose_writer_was_killed_keeps_its_end(tmp_path: Path) -> None:
    """Killed before close: the tail segments (the run's end) follow the head, older first,
    behind a line saying output may be missing; once."""
    log = CappedLog(tmp_path, 64 * 1024)
    log.write(b"h" * (32 * 1024) + b"".join(b"line %d\n" % i for i in range(4000)))
    log.head.close()
    log.times.close()
    assert log.tail is not None
    log.tail.close()  # as a kill -9 leaves it: no close(), the segments still apart
    assert seal_orphaned(tmp_path) is True
    text = (tmp_path / "output.log").read_bytes()
    assert text.startswith(b"h" * (32 * 1024))
    assert b"[envctl: output may be cut here: its writer was killed" in text
    assert text.endswith(b"line 3999\n")
    assert not any((tmp_path / name).exists() for name in TAIL_SEGMENTS)
    assert seal_orphaned(tmp_path) is False
