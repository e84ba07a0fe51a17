"""A docker CLI process a stop can end: interrupted, terminated, then killed, group and all."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from envctl.docker import process
from envctl.errors import CancelRequestedError

QUICK = ((signal.SIGINT, 0.3), (signal.SIGTERM, 0.3))


def child(tmp_path: Path, traps: str) -> list[str]:
    """A shell that writes its pid and its child's, ignores what ``traps`` names, and waits."""
    script = tmp_path / "child.sh"
    script.write_text(f"{traps}\nsleep 60 & echo $$ $! > {tmp_path}/pids\nwait\nwait\n")
    return ["sh", str(script)]


def ended(pid: int, within: float = 5.0) -> bool:
    """Whether ``pid`` is gone or a zombie within ``within`` seconds (a killed process closes
    its pipes a moment before the kernel marks it dead)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.01)
    return False


def test_a_finished_process_gives_its_code_and_output() -> None:
    """stdout then stderr, and the exit code, as they were."""
    source = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    done = process.run([sys.executable, "-c", source], cancelled=lambda: False, what="testing")
    assert (done.returncode, done.output) == (3, b"out\nerr\n")


@pytest.mark.parametrize("traps", ["", "trap '' INT", "trap '' INT TERM"])
def test_a_cancel_ends_the_whole_group_by_escalation(tmp_path: Path, traps: str) -> None:
    """Interrupt, then terminate, then kill (whatever the process ignores): its children
    (compose's own) end with it."""
    with pytest.raises(CancelRequestedError, match=r"^the run was cancelled while building web$"):
        process.run(child(tmp_path, traps), cancelled=(tmp_path / "pids").exists,
                    what="building web", poll=0.05, escalation=QUICK)
    shell, sleeper = map(int, (tmp_path / "pids").read_text().split())
    assert (ended(shell), ended(sleeper)) == (True, True)
