"""The error boundary (envctl/boundary.py): what escapes a command becomes its exit code."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import typer

from envctl.boundary import dispatch, guarded, leave
from envctl.errors import UsageError


def test_envctl_errors_print_their_message_and_hint(capsys: pytest.CaptureFixture[str]) -> None:
    """An EnvctlError: its message and hint on stderr, its exit code."""
    def fail() -> int:
        raise UsageError("bad", hint="try again")

    assert guarded(fail) == 10
    assert capsys.readouterr().err == "envctl: error: bad\nenvctl: hint: try again\n"


def test_a_bug_leaves_a_crash_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Any other exception: exit 70 and the traceback in a crash log under the state dir."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    def bug() -> int:
        raise RuntimeError("oops")

    assert guarded(bug) == 70
    logs = list((tmp_path / "envctl" / "crashes").iterdir())
    assert len(logs) == 1
    assert "RuntimeError: oops" in logs[0].read_text()
    assert "envctl: internal error: RuntimeError: oops" in capsys.readouterr().err


def test_interrupts_exit_130() -> None:
    """Ctrl-C: 130."""
    def interrupted() -> int:
        raise KeyboardInterrupt

    assert guarded(interrupted) == 130


def test_click_aborts_give_back_the_interrupt() -> None:
    """click turns KeyboardInterrupt into Abort: dispatch raises the interrupt again."""
    def app(**_kwargs: object) -> int:
        raise typer.Abort() from KeyboardInterrupt()

    with pytest.raises(KeyboardInterrupt):
        dispatch(app, [])


def test_exits_and_results() -> None:
    """typer.Exit gives its code; a command's int is the code; anything else is 0."""
    def exits(**_kwargs: object) -> int:
        raise typer.Exit(3)

    assert dispatch(exits, []) == 3
    assert dispatch(lambda **_kwargs: 4, []) == 4
    assert dispatch(lambda **_kwargs: None, []) == 0


def test_leave_flushes_then_exits_with_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    """leave flushes the streams, then exits (here into a fake) with the code."""
    codes: list[int] = []
    sys.stdout.write("pending")
    leave(7, exit_now=codes.append)
    assert (codes, capsys.readouterr().out) == ([7], "pending")
