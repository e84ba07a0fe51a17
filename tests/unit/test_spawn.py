"""The collector's spawn: its own session, only its locks, and signals back to their defaults."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from envctl import signals
from envctl.runs import spawn
from envctl.runs.store import COLLECTOR_LOG


def _ignored_mask(status: str) -> int:
    line = next(line for line in status.splitlines() if line.startswith("SigIgn:"))
    return int(line.split()[1], 16)


def test_a_collector_spawned_while_signals_are_ignored_gets_them_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spawned inside a shielded cleanup (INT/TERM/HUP ignored), the collector does not inherit SIG_IGN."""
    fake = tmp_path / "fake-python"
    # Stands in for the interpreter: prints its own ignored-signal mask (stdout is collector.log).
    fake.write_text("#!/bin/sh\ngrep '^SigIgn:' /proc/$$/status\n")
    fake.chmod(stat.S_IRWXU)
    monkeypatch.setattr(sys, "executable", str(fake))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with signals.shielded():
        assert spawn.spawn_collector(run_dir) is True
        pid = spawn._SPAWNED[-1]
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    mask = _ignored_mask((run_dir / COLLECTOR_LOG).read_text())
    assert [s for s in signals.HANDLED if mask & (1 << (s - 1))] == []


def test_a_collector_runs_in_a_session_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """setsid: a closed terminal's SIGHUP to our session never reaches the collector."""
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\nawk '{print $6}' /proc/$$/stat\n")  # field 6: the session id
    fake.chmod(stat.S_IRWXU)
    monkeypatch.setattr(sys, "executable", str(fake))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert spawn.spawn_collector(run_dir) is True
    pid = spawn._SPAWNED[-1]
    os.waitpid(pid, 0)
    assert int((run_dir / COLLECTOR_LOG).read_text().split()[0]) == pid
