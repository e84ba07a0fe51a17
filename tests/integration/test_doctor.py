"""`envctl doctor` on a healthy machine and against a dead engine."""

from __future__ import annotations

import json
import os
import socket
import threading

import pytest

from envctl.errors import ExitCode

pytestmark = pytest.mark.docker


def test_doctor_passes_on_a_set_up_machine(make_project) -> None:  # type: ignore[no-untyped-def]
    """After scripts/setup-docker every check is ok (or a warning), and the exit code is 0."""
    project = make_project("up/healthy")
    result = project.envctl("doctor", "--json")
    assert result.returncode == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    names = {c["name"]: c for c in report["checks"]}
    assert set(names) == {"engine", "compose", "compose files", "test service", "images", "engine disk",
                          "disk", "log dir", "host limits"}
    if os.geteuid() == 0:  # root makes the cgroup; a user without a delegated one gets a warning
        assert names["host limits"]["status"] == "ok", names["host limits"]
    assert names["test service"]["status"] == "ok"
    assert names["engine"]["status"] == "ok"
    assert "API" in names["engine"]["detail"]
    assert names["compose"]["status"] == "ok"
    assert names["images"]["status"] == "ok", names["images"]
    assert names["engine disk"]["status"] == "ok", names["engine disk"]
    assert names["engine disk"]["detail"].endswith(" free for the engine's containers")


def test_doctor_table_is_readable(make_project) -> None:  # type: ignore[no-untyped-def]
    """Without --json, a table with one row per check."""
    project = make_project("up/healthy")
    result = project.envctl("doctor")
    assert result.returncode == 0, result.output
    for name in ("engine", "compose", "images", "disk", "log dir"):
        assert name in result.stdout


def test_doctor_with_a_dead_docker_host_fails_fast_with_a_hint(make_project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A dead DOCKER_HOST: non-zero, a fix hint, no traceback, well within 5 s of work."""
    project = make_project("up/healthy")
    result = project.envctl("doctor", "--json",
                            extra_env={"DOCKER_HOST": f"unix://{tmp_path}/dead.sock"})
    assert result.returncode == ExitCode.DOCTOR_FAILED, result.output
    report = json.loads(result.stdout)
    engine = next(c for c in report["checks"] if c["name"] == "engine")
    assert engine["status"] == "fail"
    assert "does not answer" in engine["detail"]
    assert "DOCKER_HOST" in engine["hint"]
    assert "Traceback" not in result.stderr
    assert result.seconds < 8  # 5 s deadline + interpreter start


def test_doctor_with_a_silent_tcp_host_stays_within_its_deadline(make_project) -> None:  # type: ignore[no-untyped-def]
    """A host that accepts connections and never answers is cut off by the 5 s deadline."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    accepted.append(server.accept()[0])
                except OSError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        project = make_project("up/healthy")
        try:
            result = project.envctl("doctor", extra_env={"DOCKER_HOST": f"tcp://127.0.0.1:{port}"})
        finally:
            stop.set()
            thread.join()
            for conn in accepted:
                conn.close()
    assert result.returncode == ExitCode.DOCTOR_FAILED, result.output
    assert result.seconds < 12
    assert "Traceback" not in result.output
