"""Signals as interrupts: which signal, its exit code, handlers put back, and nohup respected."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from envctl import signals
from envctl.boundary import guarded


@pytest.mark.parametrize(("signum", "code", "name"), [
    (signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGHUP")])
def test_each_signal_raises_with_its_code(signum: int, code: int, name: str) -> None:
    """Inside as_interrupts a signal raises Signalled carrying it; its code is 128 + N."""
    before = signal.getsignal(signum)
    with pytest.raises(signals.Signalled) as raised, signals.as_interrupts():
        os.kill(os.getpid(), signum)
    assert (signals.exit_code(raised.value), signals.name(raised.value)) == (code, name)
    assert signal.getsignal(signum) is before


def test_a_signal_during_an_import_is_raised_once_the_import_is_over(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal mid-import comes after it: the module is whole in sys.modules, not half-run."""
    (tmp_path / "halfway.py").write_text(
        "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\nDONE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "halfway", raising=False)
    with pytest.raises(signals.Signalled) as raised, signals.as_interrupts():
        module = importlib.import_module("halfway")
        assert module.DONE is True
        threading.Event().wait(10)  # the signal comes back here, REDELIVER_AFTER later
    assert raised.value.signum == signal.SIGTERM
    assert sys.modules["halfway"].DONE is True


def test_a_signal_owed_when_the_block_ends_is_raised_on_the_way_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The import was the block's last step: the signal is raised as it ends, and never again."""
    (tmp_path / "lastly.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lastly", raising=False)
    with pytest.raises(signals.Signalled) as raised, signals.as_interrupts():
        importlib.import_module("lastly")
    assert raised.value.signum == signal.SIGINT
    threading.Event().wait(5 * signals.REDELIVER_AFTER)  # a late second delivery would raise here


def test_the_frozen_import_machinery_counts_as_an_import(tmp_path: Path) -> None:
    """Before anything imports `importlib`, its frames carry the frozen names: still an import."""
    (tmp_path / "halfway.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n"
                                         "DONE = True\n")
    script = (f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
              "from envctl import signals\n"
              "print('importlib' in sys.modules)\n"
              "try:\n"
              "    with signals.as_interrupts():\n"
              "        import halfway\n"
              "except signals.Signalled as exc:\n"
              "    print(exc.signum, sys.modules['halfway'].DONE)\n")
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.stdout.split() == ["False", str(int(signal.SIGTERM)), "True"], done.stderr


def test_importing_is_false_outside_an_import() -> None:
    """Plain code is not an import: a signal there is raised at once."""
    assert signals.importing(sys._getframe()) is False


def test_a_plain_keyboard_interrupt_is_ctrl_c() -> None:
    """Python's own KeyboardInterrupt counts as SIGINT."""
    assert (signals.exit_code(KeyboardInterrupt()), signals.name(KeyboardInterrupt())) == (130, "Ctrl-C")


def test_an_ignored_signal_stays_ignored() -> None:
    """Started under nohup (SIGHUP ignored): as_interrupts leaves it ignored."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with signals.as_interrupts():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)  # nothing happens
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_shielded_ignores_a_second_signal_then_restores() -> None:
    """A cleanup under shielded() is not cut short; the handlers come back after it."""
    with signals.as_interrupts():
        with signals.shielded():
            os.kill(os.getpid(), signal.SIGTERM)  # ignored
        assert signal.getsignal(signal.SIGTERM) is signals._raise


def test_the_boundary_names_the_signal_and_exits_128_plus_n(capsys: pytest.CaptureFixture[str]) -> None:
    """A command ended by SIGHUP: 129 and "interrupted (SIGHUP)", no traceback."""
    def hang_up() -> int:
        raise signals.Signalled(signal.SIGHUP)

    assert guarded(hang_up) == 129
    assert capsys.readouterr().err == "envctl: interrupted (SIGHUP)\n"
