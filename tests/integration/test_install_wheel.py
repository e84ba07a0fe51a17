"""The README's installation: a wheel built from this checkout, installed into a clean venv, with
the plugin, the schemas and the HTML report's assets inside, and the CLI answering."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_installs_into_a_clean_venv(tmp_path: Path) -> None:
    """`pip wheel --no-deps -w dist .`, then `pip install dist/envctl-*.whl` into a new venv."""
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(REPO)],
                   check=True, timeout=300, capture_output=True)
    (wheel,) = dist.glob("envctl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("envctl/pytest_plugin/envctl_runner.py", "envctl/schemas/status.json",
                   "envctl/report/html_assets/report.js", "envctl/env/wait_probe.py"):
        assert needed in names, needed
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], check=True, timeout=600,
                   capture_output=True)
    envctl = tmp_path / "venv" / "bin" / "envctl"
    version = subprocess.run([str(envctl), "--version"], capture_output=True, text=True, timeout=60,
                             check=False)
    assert (version.returncode, version.stdout.split()[0]) == (0, "envctl")
    config = subprocess.run([str(envctl), "-C", str(tmp_path), "config", "--json"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert config.returncode == 0, config.stderr
    assert '"envctl/config/1"' in config.stdout
