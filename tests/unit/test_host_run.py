"""A host run's pieces that need no engine: the tests' variables and the command run."""

from __future__ import annotations

import os
from pathlib import Path

from envctl.runs import exchange
from envctl.runs.container import PLUGIN_DIR
from envctl.runs.host_limits import HostCgroup
from envctl.runs.host_run import variables
from envctl.runs.launch import host_command
from envctl.runs.state import Limits, RunRecord
from tests.unit.run_dirs import RUN_ID, settings_at


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
    from dataclasses import replace  # noqa: PLC0415

    assert host_command(replace(settings, host_command=("tox", "-e", "py")), python) == ("tox", "-e", "py")
