"""Secrets never reach what envctl writes, even when compose's own error quotes them, and what
it writes is private under any umask."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest

from tests.faults.conftest import Project, answer_of

pytestmark = [pytest.mark.docker, pytest.mark.faults]

TOKEN, DSN = "tok-4711-not-for-logs", "dsn-0815-not-for-logs"


def test_a_failed_start_quoting_secrets_writes_none_of_them(make_project: object) -> None:
    """The sidecar's image name interpolates APP_TOKEN (a secret-looking name) and DSN (listed in
    `secrets`); the pull fails and compose quotes the name. Under umask 000: the run ends
    infra-error, and no file envctl wrote holds either value; folders are 0700, files 0600."""
    project: Project = make_project("runs")  # type: ignore[operator]
    compose = project.path / "compose.yaml"
    compose.write_text(compose.read_text().replace(
        "image: debian:bookworm-slim", "image: localhost:5999/${APP_TOKEN}-${DSN}:1"))
    env = {**project.env, "APP_TOKEN": TOKEN, "DSN": DSN, "ENVCTL_SECRETS": "DSN",
           "ENVCTL_LOG_DIR": str(project.path / ".envctl" / "runs")}
    started = subprocess.run(["sh", "-c", 'umask 000; exec "$0" -m envctl test --detach --json',
                              sys.executable], cwd=project.path, env=env, capture_output=True, text=True,
                             timeout=180, check=False)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.split('"id": "', 1)[1].split('"', 1)[0]
    view = answer_of(project, run_id, env=env)
    assert (view["state"], view["exit"]) == ("infra-error", 23), view
    assert "cannot be pulled" in view["message"] and "***" in view["message"], view["message"]
    written = list((project.path / ".envctl").rglob("*"))
    assert any(p.name == "collector.log" for p in written)
    for path in written:
        if path.is_file():
            text = path.read_bytes()
            assert TOKEN.encode() not in text and DSN.encode() not in text, path
    for path in [project.path / ".envctl", *written]:
        shared_with_the_container = path.name == "input" or path.parent.name == "input" or (
            path.name == run_id and path.parent.name == ".exchange")
        if shared_with_the_container:
            continue  # it reads input/ (0755) and writes its box (0777, inside the 0700 .exchange)
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
