"""On the real engine: a test service sharing the host's IPC namespace is refused unless
allowed, and the compose configuration envctl caches holds none of the environment's secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envctl.errors import ExitCode


def test_a_test_service_on_the_hosts_ipc_is_refused_unless_allowed(make_project: Any) -> None:
    """Refused with the key and the way to allow it (exit 14); doctor says so; allowed, it runs.
    The secret the compose file interpolates is nowhere under the project's .envctl."""
    project = make_project("runs")
    compose = project.path / "compose.yaml"
    compose.write_text(compose.read_text().replace(
        "    working_dir: /suite\n",
        "    working_dir: /suite\n    ipc: host\n"
        "    environment: {DB_PASSWORD: \"${APP_TEST_SECRET}\"}\n"))
    secret = {"APP_TEST_SECRET": "s3cr3t-value-4711"}
    refused = project.envctl("test", extra_env=secret)
    assert refused.returncode == ExitCode.COMPOSE_FILE, refused.output
    assert "the test service 'test' would give the tests the host: ipc: host (host-ipc)" \
        in refused.stderr
    assert 'allow = ["host-ipc"]' in refused.stderr
    doctor = project.envctl("doctor", "--json", extra_env=secret)
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["test service"]["status"] == "fail"
    allowed = project.envctl("test", extra_env={**secret, "ENVCTL_ALLOW": "host-ipc"})
    assert allowed.returncode == 0, allowed.output
    written = [p for p in (project.path / ".envctl").rglob("*") if p.is_file()]
    written += [p for p in Path(project.env["ENVCTL_LOG_DIR"]).rglob("*") if p.is_file()]
    assert any(p.name.startswith("reduced-config-") for p in written)
    assert [p for p in written if b"s3cr3t-value-4711" in p.read_bytes()] == []
    project.envctl("down", "--volumes")
