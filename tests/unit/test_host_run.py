"""A host run's pieces that need no engine: the tests' variables, the command run, the
runner's word read back (or its absence), a damaged plan."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from envctl.runs import exchange, host_limits, host_run
from envctl.runs.cancel import CancelWatch
from envctl.runs.container import PLUGIN_DIR
from envctl.runs.host_files import HostExit, RunnerFile
from envctl.runs.host_limits import HostCgroup
from envctl.runs.host_process import ProcessId
from envctl.runs.host_run import variables
from envctl.runs.launch import host_command
from envctl.runs.state import Limits, RunRecord, RunState
from tests.unit.run_dirs import RUN_ID, make_run, settings_at


def record(**changes: object) -> RunRecord:
    values: dict[str, object] = {"id": RUN_ID, "project": "p", "service": "host", "command": ["pytest"],
                                 "limits": Limits(1 << 30, 3.5, 100), "host": True}
    return RunRecord(**{**values, **changes})  # type: ignore[arg-type]  # the fields, by name


def test_the_tests_get_addresses_plugin_and_worker_count(tmp_path: Path) -> None:
    """Addresses as given; the plugin ahead of the caller's PYTHONPATH and PYTEST_PLUGINS; xdist's
    auto count from the CPU limit; no cgroup: the plugin reads none."""
    run_dir = tmp_path / RUN_ID
    added = variables(run_dir, record(), {"ENVCTL_WEB_PORT": "8080"},
                      {"PYTHONPATH": "/mine", "PYTEST_PLUGINS": "theirs"}, None)
    assert added == {
        "ENVCTL_WEB_PORT": "8080",
        "PYTHONPATH": f"{PLUGIN_DIR}{os.pathsep}/mine",
        "PYTEST_PLUGINS": "theirs,envctl_progress",
        "ENVCTL_PROGRESS_DIR": str(exchange.box(run_dir)),
        "ENVCTL_RUN_ID": RUN_ID,
        "ENVCTL_MEMORY_CGROUP": "off",
        "PYTEST_XDIST_AUTO_NUM_WORKERS": "3",
    }


def test_a_shard_a_resume_and_a_cgroup_add_theirs(tmp_path: Path) -> None:
    """A shard's share and durations, a resume's selection (when written), the cgroup's memory
    folder; a worker count the caller set is kept."""
    run_dir = tmp_path / RUN_ID
    (run_dir / exchange.INPUT_DIR).mkdir(parents=True)
    (run_dir / exchange.INPUT_DIR / "select.json").write_text("{}")
    memory = tmp_path / "memory" / f"envctl-{RUN_ID}"  # a v1 memory cgroup's folder, as the kernel shows it
    memory.mkdir(parents=True)
    (memory / "memory.usage_in_bytes").write_text("0\n")
    cgroup = HostCgroup(1, (f"{tmp_path}/pids/envctl-{RUN_ID}", str(memory)))
    added = variables(run_dir, record(shard="2/3", resumes="20250101-000000-abcd"), {},
                      {"PYTEST_XDIST_AUTO_NUM_WORKERS": "8"}, cgroup)
    assert {k: added[k] for k in ("ENVCTL_SHARD", "ENVCTL_DURATIONS", "ENVCTL_SELECT",
                                  "ENVCTL_MEMORY_CGROUP")} == {
        "ENVCTL_SHARD": "2/3", "ENVCTL_DURATIONS": str(run_dir / "input" / "durations.json"),
        "ENVCTL_SELECT": str(run_dir / "input" / "select.json"), "ENVCTL_MEMORY_CGROUP": str(memory)}
    assert "PYTEST_XDIST_AUTO_NUM_WORKERS" not in added


def test_the_command_is_the_setting_else_the_pytest_beside_python(tmp_path: Path) -> None:
    """host_command when set; else bin/pytest beside the interpreter; else python -m pytest."""
    settings = settings_at(tmp_path)
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = str(bin_dir / "python")
    assert host_command(settings, python, which=lambda _name: None) == (python, "-m", "pytest")
    assert host_command(settings, python, which=lambda _name: "/usr/bin/pytest") == ("/usr/bin/pytest",)
    (bin_dir / "pytest").write_text("#!/bin/sh\n")
    (bin_dir / "pytest").chmod(0o755)
    assert host_command(settings, python, which=lambda _name: None) == (str(bin_dir / "pytest"),)

    assert host_command(replace(settings, host_command=("tox", "-e", "py")), python) == ("tox", "-e", "py")


def test_the_exit_is_the_runners_word_or_lost_when_it_is_gone(tmp_path: Path) -> None:
    """host-exit.json when written; None once the runner is gone without it (a reused pid or a
    zombie is gone too)."""


    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    known = ProcessId.of(gone.pid)
    assert known is not None
    gone.wait()
    runner = RunnerFile(known, 1.0)
    assert host_run._await_exit(tmp_path, runner) is None
    HostExit(5, 2.0).store(tmp_path)
    assert host_run._await_exit(tmp_path, runner) == HostExit(5, 2.0)


def test_a_runner_that_never_wrote_itself_down_is_none(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """No runner.json within the wait, or a damaged one: None (the run ends infra-error)."""
    monkeypatch.setattr(host_run, "RUNNER_START_WAIT", 0.0)
    assert host_run._await_runner(tmp_path) is None
    (tmp_path / "runner.json").write_text("[]")
    assert host_run._await_runner(tmp_path) is None


def test_a_damaged_plan_ends_the_run_as_an_infra_error(tmp_path: Path) -> None:
    """A host.json that cannot be read: infra-error saying so; nothing is started."""
    run_dir = make_run(tmp_path, container=None)
    (run_dir / "host.json").write_text('{"argv": []}')
    with CancelWatch(run_dir) as cancel:
        ended = host_run.run_host(run_dir, RunRecord.load(run_dir), cancel)
    assert (ended.state, ended.message) == (RunState.INFRA_ERROR, "the host run's plan: argv is empty")


def test_gc_sweeps_the_cgroups_of_ended_or_gone_runs_only(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Ended run: removed; running run: kept; no run here: removed only empty and old."""
    ended = make_run(tmp_path, "20260101-000000-aaaa", exit_code=0)
    make_run(tmp_path, "20260101-000000-bbbb")
    groups = {}
    for run_id in ("20260101-000000-aaaa", "20260101-000000-bbbb", "20260101-000000-cccc",
                   "20260101-000000-dddd", "20260101-000000-eeee"):
        folder = tmp_path / "cg" / f"envctl-{run_id}"
        folder.mkdir(parents=True)
        groups[run_id] = HostCgroup(1, (str(folder),))
    old = 1.0e9 + host_run.STRAY_AFTER + 1
    for run_id in ("20260101-000000-cccc", "20260101-000000-dddd"):
        os.utime(groups[run_id].paths[0], (1.0e9, 1.0e9))
    busy = {"20260101-000000-dddd"}
    removed: list[str] = []
    monkeypatch.setattr(host_limits, "leftovers", lambda: list(groups.values()))
    monkeypatch.setattr(host_limits, "pids", lambda g: [7] if g.run_id in busy else [])
    monkeypatch.setattr(host_limits, "kill_all", lambda g: None)
    monkeypatch.setattr(host_limits, "remove", lambda g: removed.append(g.run_id))
    os.utime(groups["20260101-000000-eeee"].paths[0], (old, old))
    assert host_run.sweep_cgroups(ended.parent, now=old) == ["20260101-000000-aaaa", "20260101-000000-cccc"]
    assert removed == ["20260101-000000-aaaa", "20260101-000000-cccc"]


def test_a_runner_under_way_is_found_by_its_argv(tmp_path: Path) -> None:
    """A process of ours running the runner for this run dir counts; another run's does not."""
    proc, run_dir = tmp_path / "proc", tmp_path / "runs" / RUN_ID
    for pid, argv in ((7, [sys.executable, "-P", "-m", host_run.RUNNER_MODULE, str(run_dir)]),
                      (8, [sys.executable, "-P", "-m", host_run.RUNNER_MODULE, str(run_dir) + "x"])):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    assert host_run.runner_under_way(run_dir, proc) is True
    assert host_run.runner_under_way(tmp_path / "runs" / "other", proc) is False
    assert host_run.runner_under_way(run_dir, tmp_path / "no-proc") is None


def test_a_runner_never_started_is_started_once_looked_for_twice(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Plan written, no runner.json, no runner alive (twice): started; one alive or written: not."""
    spawned: list[Path] = []
    monkeypatch.setattr(host_run, "RECHECK_DELAY", 0.0)
    monkeypatch.setattr(host_run, "_spawn_runner", spawned.append)
    monkeypatch.setattr(host_run, "runner_under_way", lambda _run_dir: False)
    host_run._restart_a_runner_never_started(tmp_path)
    assert spawned == [tmp_path]
    monkeypatch.setattr(host_run, "runner_under_way", lambda _run_dir: True)
    host_run._restart_a_runner_never_started(tmp_path)
    RunnerFile(ProcessId(7, 1), 1.0).store(tmp_path)
    monkeypatch.setattr(host_run, "runner_under_way", lambda _run_dir: False)
    host_run._restart_a_runner_never_started(tmp_path)
    assert spawned == [tmp_path]
