"""A dependency that dies while the tests run is named in the record, with when and which test
was running, and the run reads as the environment breaking, not as a test failure (item 8)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import write_suite

pytestmark = pytest.mark.docker


def test_a_service_killed_mid_run_is_named(runs_project) -> None:  # type: ignore[no-untyped-def]
    """`docker kill` of the sidecar during a test that then fails: env-broken (26), naming it."""
    write_suite(runs_project, {"test_slow.py": (
        "import pathlib, time\n\n"
        "def test_needs_the_sidecar():\n"
        "    for _ in range(600):\n"
        "        if pathlib.Path('/suite/sidecar-killed').exists():\n"
        "            break\n"
        "        time.sleep(0.05)\n"
        "    assert False, 'the sidecar went away'\n")})
    result = runs_project.envctl("test", "--detach")
    assert result.returncode == 0, result.output
    run_id = result.stdout.strip().splitlines()[-1]
    runs = Path(runs_project.env["ENVCTL_LOG_DIR"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        progress = runs / ".exchange" / run_id / "progress.json"
        if progress.exists() and json.loads(progress.read_text()).get("current"):
            break
        time.sleep(0.1)
    subprocess.run(["docker", "kill", f"{runs_project.name}-sidecar-1"], check=True, capture_output=True,
                   timeout=30)
    (runs_project.path / "suite" / "sidecar-killed").touch()
    waited = runs_project.envctl("wait", run_id, timeout=120)
    assert waited.returncode == 26, waited.output
    record = json.loads((runs / run_id / "run.json").read_text())
    assert record["state"] == "env-broken"
    events = record["dependency_events"]
    assert [(e["service"], e["action"], e["exit_code"]) for e in events] == [("sidecar", "die", 137)]
    assert events[0]["running_test"] == "test_slow.py::test_needs_the_sidecar"
    assert "service sidecar died (exit 137) while test_slow.py::test_needs_the_sidecar was running" \
        in record["message"]
    report = runs_project.envctl("report", run_id)
    assert "service `sidecar` died (exit 137)" in report.stdout
