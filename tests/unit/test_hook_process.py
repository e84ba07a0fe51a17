"""The on_finish hook's process: its code, its capped output, its own session, and its deadline
(interrupt, terminate, kill, group and all)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from envctl import log
from envctl.runs.hook_outcome import Ended
from envctl.runs.hook_process import LineMasker, run_bounded
from tests.unit.test_process import ended

QUICK = ((signal.SIGINT, 0.3), (signal.SIGTERM, 0.3))


def python(source: str) -> list[str]:
    return [sys.executable, "-c", source]


def run(tmp_path: Path, argv: list[str], **kwargs: object) -> Ended:
    return run_bounded(argv, env=dict(os.environ), cwd=tmp_path, log_path=tmp_path / "hook.log",
                       **{"timeout": 30.0, "escalation": QUICK, **kwargs})  # type: ignore[arg-type]  # the keywords above


def test_a_hook_gives_its_code_and_its_output_in_the_log(tmp_path: Path) -> None:
    """stdout and stderr both into the log; the exit code as it was; nothing cut."""
    done = run(tmp_path, python("import sys; print('out', flush=True); print('err', file=sys.stderr); "
                                "sys.exit(3)"))
    assert (done.exit_code, done.signal, done.timed_out, done.error, done.output_bytes, done.output_cut) == \
        (3, None, False, None, 8, 0)
    assert (tmp_path / "hook.log").read_bytes() == b"out\nerr\n"
    assert (tmp_path / "hook.log").stat().st_mode & 0o777 == 0o600


def test_the_output_is_capped_and_the_rest_counted(tmp_path: Path) -> None:
    """Past the cap the output is read (the hook never blocks) but not kept, and the log says so."""
    done = run(tmp_path, python("import sys; sys.stdout.write('x' * 5000)"), cap=1000)
    assert (done.exit_code, done.output_bytes, done.output_cut) == (0, 5000, 4000)
    assert (tmp_path / "hook.log").read_bytes() == \
        b"x" * 1000 + b"\n[envctl: 4000 more bytes of the hook's output were not kept]\n"


def test_a_hook_has_no_stdin_and_a_session_of_its_own(tmp_path: Path) -> None:
    """stdin is empty (a hook that reads it never waits), and the hook leads its own session
    (so its whole group can be signalled, and a signal to the collector's is not its)."""
    done = run(tmp_path, python("import os, sys; print(repr(sys.stdin.read()), os.getsid(0) == os.getpid())"))
    assert (done.exit_code, (tmp_path / "hook.log").read_text()) == (0, "'' True\n")


def test_a_program_that_is_not_there_is_an_error_not_a_raise(tmp_path: Path) -> None:
    """The error says which program and why."""
    done = run(tmp_path, ["envctl-no-such-hook-program"])
    assert (done.exit_code, done.error) == \
        (None, "could not start 'envctl-no-such-hook-program': No such file or directory")


@pytest.mark.parametrize(("traps", "by"), [("", "SIGINT"), ("trap '' INT", "SIGTERM"),
                                           ("trap '' INT TERM", "SIGKILL")])
def test_past_its_timeout_the_hook_is_interrupted_then_terminated_then_killed(
        tmp_path: Path, traps: str, by: str) -> None:
    """Whatever it ignores, the hook and its children end, by the first signal it does not."""
    script = tmp_path / "hook.sh"
    script.write_text(f"{traps}\nsleep 60 & echo $$ $! > {tmp_path}/pids\nwait\nwait\n")
    done = run(tmp_path, ["sh", str(script)], timeout=0.3)
    shell, sleeper = map(int, (tmp_path / "pids").read_text().split())
    assert (done.timed_out, done.exit_code, done.signal) == (True, None, by)
    assert (ended(shell), ended(sleeper)) == (True, True)


def test_a_child_that_keeps_the_output_open_is_ended_at_the_deadline(tmp_path: Path) -> None:
    """The hook exits at once but leaves a child holding its output: the deadline still holds,
    and ends the child; the hook's own code is kept."""
    script = tmp_path / "hook.sh"
    script.write_text(f"sleep 60 &\necho $! > {tmp_path}/pids\nexit 0\n")
    done = run(tmp_path, ["sh", str(script)], timeout=0.3)
    assert (done.timed_out, done.exit_code) == (True, 0)
    assert ended(int((tmp_path / "pids").read_text())) is True


def test_secrets_are_cut_out_of_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hook that prints its webhook URL (`set -x`, say): hook.log has it masked; the count is
    of what the hook printed."""
    monkeypatch.setattr(log, "_secrets", {"https://hooks.example/T0/s3cr3tpath"})
    monkeypatch.setattr(log, "_secrets_read", [True])
    done = run(tmp_path, ["sh", "-c", "set -x; : https://hooks.example/T0/s3cr3tpath; echo sent"])
    assert (done.exit_code, done.output_bytes) == (0, 57)
    assert (tmp_path / "hook.log").read_text() == "+ : ***\n+ echo sent\nsent\n"


def upper_secret(text: str) -> str:
    return text.replace("hunter2", "***")


def test_a_line_split_across_reads_is_masked_whole() -> None:
    """A line's end is held until its newline (or the output's end), so a secret cut between
    two reads is still masked."""
    masker = LineMasker(upper_secret)
    written = [masker.feed(b"url=hun"), masker.feed(b"ter2 ok\nnext hunt"), masker.feed(b"er2"),
               masker.flush()]
    assert written == [b"", b"url=*** ok\n", b"", b"next ***"]


def test_a_long_line_is_masked_in_pieces_cut_at_a_blank() -> None:
    """Past the line cap, a line goes out in pieces, each cut after its last blank (a secret
    with no blank in it stays whole), or at the cap when there is none; bytes that are not UTF-8
    come back as they were."""
    masker = LineMasker(upper_secret, line_cap=12)
    assert masker.feed(b"ab hunter2 cd hunter2") == b"ab *** "
    assert masker.feed(b"\xff" * 14) == b"cd ***" + b"\xff" * 5
    assert masker.flush() == b"\xff" * 9
