"""The environment fails under envctl: a missing image, no compose plugin, and the Docker engine
restarted mid-run. (Never healthy, crash loops, one-shot services, a busy host port, a malformed
compose file and an unreachable engine are in tests/integration/test_up.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.faults.conftest import Project, answer_of, start_detached, write_suite

pytestmark = [pytest.mark.docker, pytest.mark.faults]

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_image_is_named_and_nothing_is_left(make_project: object) -> None:
    """A service whose image exists nowhere: `up` fails (exit 15) in one line naming the service
    and the image, and the half-started environment is removed."""
    project: Project = make_project("runs")  # type: ignore[operator]
    compose = project.path / "compose.yaml"
    compose.write_text(compose.read_text().replace("image: debian:bookworm-slim",
                                                   "image: localhost:5999/envctl-no-such-image:404"))
    result = project.envctl("up", timeout=120)
    assert result.returncode == 15, result.output
    assert "the image of sidecar (localhost:5999/envctl-no-such-image:404) cannot be pulled" in result.stderr
    assert "Traceback" not in result.output
    assert project.leftovers() == {}


def test_without_the_compose_plugin_envctl_says_so(make_project: object, tmp_path: Path) -> None:
    """A docker CLI without the compose plugin: `up` and `test` exit 13 saying the plugin is not
    installed and how to get it; doctor fails its compose check."""
    project: Project = make_project("runs")  # type: ignore[operator]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = shutil.which("docker")
    assert docker is not None
    # The docker CLI as it is on a machine without the plugin: every other command works.
    (bin_dir / "docker").write_text(
        "#!/bin/sh\nfor arg in \"$@\"; do\n  case \"$arg\" in -*) ;; compose)\n"
        "    echo \"docker: 'compose' is not a docker command.\" >&2; exit 1;;\n  *) break;; esac\n"
        f"done\nexec {docker} \"$@\"\n")
    (bin_dir / "docker").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    for args in (("up",), ("test", "--detach")):
        result = project.envctl(*args, extra_env=env)
        assert result.returncode == 13, (args, result.output)
        assert "compose v2 plugin is not installed" in result.stderr
        assert "hint: run scripts/setup-docker" in result.stderr
    doctor = project.envctl("doctor", extra_env=env)
    assert doctor.returncode != 0
    assert "compose" in doctor.output
    assert project.leftovers() == {}


def _restart_the_engine() -> None:
    subprocess.run(["pkill", "-TERM", "-x", "dockerd"], check=False, timeout=30)
    deadline = time.monotonic() + 60
    while subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, check=False).returncode == 0:
        assert time.monotonic() < deadline, "dockerd did not stop"
        time.sleep(0.2)
    setup = subprocess.run([str(ROOT / "scripts" / "setup-docker")], capture_output=True, text=True,
                           timeout=300, check=False)
    assert setup.returncode == 0, setup.stdout + setup.stderr


SLOW = "import time\n\ndef test_slow():\n    time.sleep(20)\n"


def test_the_engine_restarted_mid_run_is_never_a_pass(runs_project: Project) -> None:
    """dockerd stopped while the tests run (it stops its containers first), then started again:
    the run ends infra-error, saying the container was stopped from outside or the engine went
    away, never passed (nor `error` or `env-broken` from pytest's answer to the stop)."""
    write_suite(runs_project, {"test_slow.py": SLOW})
    run_id = start_detached(runs_project)
    record = Path(runs_project.env["ENVCTL_LOG_DIR"]) / run_id / "run.json"
    deadline = time.monotonic() + 120
    while json.loads(record.read_text())["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1)
    _restart_the_engine()
    view = answer_of(runs_project, run_id)
    assert (view["state"], view["exit"]) == ("infra-error", 23), view
    assert "engine" in view["message"], view["message"]
    runs_project.envctl("down", "--volumes")
    assert runs_project.leftovers() == {}
