"""The CLI boundary: version, help, usage errors and config, through a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from envctl import __version__
from envctl.errors import ExitCode


def envctl(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ENVCTL_")}
    return subprocess.run([sys.executable, "-m", "envctl", *args], cwd=cwd, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=60, check=False)


def test_version(tmp_path: Path) -> None:
    """--version prints the package version."""
    result = envctl("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"envctl {__version__}"


def test_help_lists_the_commands(tmp_path: Path) -> None:
    """--help names every command."""
    result = envctl("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("doctor", "config", "up", "down", "ps"):
        assert command in result.stdout


def test_usage_error_is_not_pytests_2(tmp_path: Path) -> None:
    """An unknown command or option exits 10, never click's 2 (pytest's 'interrupted')."""
    assert envctl("frobnicate", cwd=tmp_path).returncode == ExitCode.USAGE
    assert envctl("doctor", "--nope", cwd=tmp_path).returncode == ExitCode.USAGE


def test_config_shows_values_and_sources(tmp_path: Path) -> None:
    """`envctl config --json` gives each value with the layer it came from."""
    (tmp_path / "envctl.toml").write_text('memory = "1g"\n')
    result = envctl("config", "--json", cwd=tmp_path, env={"ENVCTL_CPUS": "1.5"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)["settings"]
    assert data["memory"]["value"] == 1 << 30
    assert data["memory"]["source"].endswith("envctl.toml")
    assert data["cpus"] == {"value": 1.5, "source": "env ENVCTL_CPUS", "env": "ENVCTL_CPUS"}


def test_config_error_is_one_line_and_exit_11(tmp_path: Path) -> None:
    """A bad value is one line naming key and file, with exit code CONFIG."""
    (tmp_path / "envctl.toml").write_text('memory = "2gg"\n')
    result = envctl("config", cwd=tmp_path)
    assert result.returncode == ExitCode.CONFIG
    errors = [line for line in result.stderr.splitlines() if line.startswith("envctl: error:")]
    assert len(errors) == 1
    assert "memory" in errors[0]
    assert "envctl.toml" in errors[0]
    assert "Traceback" not in result.stderr


def test_project_dir_option(tmp_path: Path) -> None:
    """-C reads settings from another directory."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "envctl.toml").write_text("pids = 7\n")
    result = envctl("-C", str(project), "config", "--json", cwd=tmp_path)
    assert json.loads(result.stdout)["settings"]["pids"]["value"] == 7


def test_bug_gives_a_crash_message_with_the_traceback_path(tmp_path: Path) -> None:
    """An unexpected exception exits 70 with a short message and where the traceback is."""
    code = (
        "import sys; from envctl.boundary import guarded\n"
        "def boom():\n    raise RuntimeError('kaboom')\n"
        "sys.exit(guarded(boom))\n"
    )
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == ExitCode.INTERNAL
    assert "internal error: RuntimeError: kaboom" in result.stderr
    crash = next((tmp_path / "envctl" / "crashes").glob("crash-*.log"))
    assert "kaboom" in crash.read_text()
    assert oct(crash.stat().st_mode & 0o777) == "0o600"


def test_a_damaged_run_is_named_and_skipped(tmp_path: Path) -> None:
    """`[]`, a truncated record and non-UTF-8 bytes: `runs` and `gc` go on and name them,
    `status` of one exits 19 with one line, `latest` is the good run (issue 9, item 7)."""
    logs = tmp_path / "runs"
    good = "20260101-000001-aaaa"
    (logs / good).mkdir(parents=True)
    (logs / good / "run.json").write_text(json.dumps({
        "id": good, "project": "p", "service": "test", "command": ["pytest"], "state": "passed",
        "pytest_exit": 0, "limits": {"memory": 1, "cpus": 1.0, "pids": 1}}))
    bad = {"20260101-000002-bbbb": b"[]", "20260101-000003-cccc": b'{"id": "2026',
           "20260101-000004-dddd": b"\xff\xfe"}
    for run_id, content in bad.items():
        (logs / run_id).mkdir()
        (logs / run_id / "run.json").write_bytes(content)
    env = {"ENVCTL_LOG_DIR": str(logs)}
    listed = envctl("runs", "--json", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    states = {r["run"]: r["state"] for r in data["runs"]} | {d["run"]: "damaged" for d in data["damaged"]}
    assert states == {good: "passed", **dict.fromkeys(bad, "damaged")}
    table = envctl("runs", cwd=tmp_path, env=env)
    assert table.returncode == 0
    assert "damaged" in table.stdout
    assert envctl("gc", cwd=tmp_path, env=env).returncode == 0
    status = envctl("status", "20260101-000002-bbbb", cwd=tmp_path, env=env)
    assert status.returncode == ExitCode.RUN_DAMAGED
    assert "run 20260101-000002-bbbb: run.json is damaged" in status.stderr
    assert "Traceback" not in status.stderr
    latest = envctl("status", cwd=tmp_path, env=env)
    assert latest.returncode == 0, latest.stderr
    assert good in latest.stdout
