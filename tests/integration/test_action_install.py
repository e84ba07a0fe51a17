"""The action's install step on its own: a runner's system Python that refuses `pip install`
(PEP 668, Debian's and Ubuntu's python3), and a Python older than 3.10 (issue 13, point 1)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def install_step() -> str:
    """The `run:` script of the action's "Install envctl" step, as the runner would run it."""
    lines = (REPO / "action.yml").read_text().splitlines()
    start = lines.index("    - name: Install envctl")
    run = next(i for i in range(start, len(lines)) if lines[i] == "      run: |")
    body = []
    for line in lines[run + 1:]:
        if line and not line.startswith("        "):
            break
        body.append(line[8:])
    return "\n".join(body)


def run_step(tmp_path: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "HOME": str(tmp_path), "ACTION_PATH": str(REPO), "VENV": str(tmp_path / "venv")}
    return subprocess.run(["bash", "-e", "-c", install_step()], env=env, capture_output=True, text=True,
                          timeout=600, check=False)


@pytest.mark.skipif(not Path("/usr/lib/python3.11/EXTERNALLY-MANAGED").exists(),
                    reason="needs a system Python marked externally managed (Debian's python3)")
def test_installs_with_an_externally_managed_system_python(tmp_path: Path) -> None:
    """With Debian's python3 first on PATH (no setup-python), envctl lands in the action's venv."""
    result = run_step(tmp_path, "/usr/bin:/bin")
    assert result.returncode == 0, result.stdout + result.stderr
    version = subprocess.run([str(tmp_path / "venv" / "bin" / "envctl"), "--version"], capture_output=True,
                             text=True, timeout=60, check=False)
    assert version.stdout.startswith("envctl "), version.stderr


def test_an_old_python_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    """A Python older than 3.10 first on PATH: one ::error saying what to add, and exit 1."""
    fake = tmp_path / "bin"
    fake.mkdir()
    python = fake / "python3"
    python.write_text('#!/bin/sh\n[ "$1" = "-V" ] && { echo "Python 3.9.2"; exit 0; }\nexit 1\n')
    python.chmod(0o755)
    result = run_step(tmp_path, f"{fake}:{os.environ['PATH']}")
    assert result.returncode == 1
    assert result.stdout.startswith("::error title=envctl::envctl needs Python 3.10 or newer;")
    assert "Python 3.9.2" in result.stdout and "actions/setup-python" in result.stdout
