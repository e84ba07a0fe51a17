"""A host run's plan, runner and exit files: written atomically, read back as checked values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envctl.runs.host_files import EXIT_FILE, PLAN_FILE, RUNNER_FILE, HostExit, HostPlan, RunnerFile
from envctl.runs.host_process import ProcessId


def test_each_file_round_trips(tmp_path: Path) -> None:
    """What is stored is what is loaded; a missing file is None."""
    loaded = (HostPlan.load(tmp_path), RunnerFile.load(tmp_path), HostExit.load(tmp_path))
    assert loaded == (None, None, None)
    plan = HostPlan(("pytest", "-q"), {"ENVCTL_WEB_PORT": "8080"}, "/work", 30.0, 1 << 20, None, "no cgroup")
    runner = RunnerFile(ProcessId(10, 5), 1.5, ProcessId(11, 6))
    ended = HostExit(1, 2.5, 100, 3, None, timed_out=True)
    for value in (plan, runner, ended):
        value.store(tmp_path)
    assert (HostPlan.load(tmp_path), RunnerFile.load(tmp_path), HostExit.load(tmp_path)) == \
        (plan, runner, ended)
    assert oct((tmp_path / PLAN_FILE).stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(("name", "data", "says"), [
    (PLAN_FILE, {"argv": [], "log_cap": 1}, "argv is empty"),
    (PLAN_FILE, {"argv": ["pytest", 3], "log_cap": 1}, "argv is not a list of strings"),
    (PLAN_FILE, {"argv": ["pytest"], "log_cap": 1, "cwd": "relative"}, "cwd is not an absolute path"),
    (PLAN_FILE, {"argv": ["pytest"], "log_cap": 1, "env": {"A": 1}}, "env is not a map of strings"),
    (PLAN_FILE, {"argv": ["pytest"], "log_cap": True}, "log_cap is not a positive number"),
    (RUNNER_FILE, {"runner": {"pid": 0, "start": 0}, "started_at": 1.0}, "not a pid and a start time"),
    (RUNNER_FILE, {"runner": {"pid": 3, "start": 1}, "started_at": 1.0, "sid": -1}, "not a session id"),
    (EXIT_FILE, {"exit_code": 300, "ended_at": 1.0}, "exit_code is not an exit code"),
    (EXIT_FILE, {"exit_code": 0, "ended_at": 1.0, "log_bytes": -1}, "byte counts"),
])
def test_a_damaged_file_is_a_value_error(tmp_path: Path, name: str, data: object, says: str) -> None:
    """Each field is checked where it enters; what is wrong is said."""
    (tmp_path / name).write_text(json.dumps(data))
    reader = {PLAN_FILE: HostPlan.load, RUNNER_FILE: RunnerFile.load, EXIT_FILE: HostExit.load}[name]
    with pytest.raises(ValueError, match=says):
        reader(tmp_path)


def test_a_session_led_from_outside_this_pid_namespace_is_zero(tmp_path: Path) -> None:
    """getsid says 0 when the session's leader is in a parent pid namespace: a valid session."""
    runner = RunnerFile(ProcessId(1, 5), 1.5, None, "boot", sid=0)
    runner.store(tmp_path)
    loaded = RunnerFile.load(tmp_path)
    assert (loaded, loaded.session if loaded else None) == (runner, 0)


def test_a_link_in_place_of_a_file_is_refused(tmp_path: Path) -> None:
    """A file is read without following a link: a planted one is an error, not its target."""
    (tmp_path / "elsewhere").write_text(json.dumps({"exit_code": 0, "ended_at": 1.0}))
    (tmp_path / EXIT_FILE).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="cannot be read"):
        HostExit.load(tmp_path)
