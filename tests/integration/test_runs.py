"""Detached runs against the real engine: they survive kill -9 of everything envctl, and end in
exactly one state with the exact exit code and the whole log."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envctl.errors import ExitCode
from tests.integration.conftest import envctl_pids, kill_all_envctl
from tests.integration.conftest import write_suite as write_files

pytestmark = pytest.mark.docker

SUITES = {
    "passes": ("def test_a():\n    pass\n", 0),
    "fails": ("def test_a():\n    assert 1 == 2, 'one is not two'\n", 1),
    "collection_error": ("def test_a(:\n    pass\n", 2),
    "no_tests": ("# nothing to collect\n", 5),
}


def wait_until_started(project, run_id: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    """Until the background starter has created the test container."""
    record_path = Path(project.env["ENVCTL_LOG_DIR"]) / run_id / "run.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = json.loads(record_path.read_text())
        if record["state"] != "starting":
            return
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not start")


def start_detached_then_kill_everything(project, *args: str, started: bool = True) -> str:  # type: ignore[no-untyped-def]
    """`setsid envctl test --detach`, read the run id, kill -9 its group and all envctl.

    ``started``: first let the background starter create the container (a shell that dies
    mid-run); otherwise kill at once, starter included (a shell that dies right away)."""
    proc = subprocess.Popen(["setsid", sys.executable, "-m", "envctl", "test", "--detach", *args],
                            cwd=project.path, env=project.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    run_id = out.strip().splitlines()[-1]
    if started:
        wait_until_started(project, run_id)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    kill_all_envctl(project.env["ENVCTL_LOG_DIR"])
    return run_id


def write_suite(project, name: str, text: str) -> None:  # type: ignore[no-untyped-def]
    write_files(project, {f"test_{name}.py": text})


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_detached_run_survives_kill_9_and_wait_gives_the_exact_code(runs_project, suite: str) -> None:  # type: ignore[no-untyped-def]
    """Killing the starter's session and every envctl process loses nothing."""
    text, code = SUITES[suite]
    write_suite(runs_project, suite, text + "print('marker-line')\n")
    run_id = start_detached_then_kill_everything(runs_project, started=suite != "passes")
    result = runs_project.envctl("wait", run_id)
    assert result.returncode == code, result.output
    log = (Path(runs_project.env["ENVCTL_LOG_DIR"]) / run_id / "output.log").read_text()
    assert "test session starts" in log
    assert ("passed" in log or "failed" in log or "error" in log or "no tests ran" in log)
    assert runs_project.leftovers().get("containers", []) == [f"{runs_project.name}-sidecar-1"]


def test_usage_error_code_4_survives(runs_project) -> None:  # type: ignore[no-untyped-def]
    """pytest's usage error (4) comes back as 4."""
    write_suite(runs_project, "ok", "def test_a():\n    pass\n")
    run_id = start_detached_then_kill_everything(runs_project, "--", "--no-such-pytest-option")
    result = runs_project.envctl("wait", run_id)
    assert result.returncode == 4, result.output
    status = json.loads(runs_project.envctl("status", run_id, "--json").stdout)
    assert status["state"] == "error"


def test_whole_log_of_a_fast_and_loud_suite(runs_project) -> None:  # type: ignore[no-untyped-def]
    """A suite that ends in well under 100 ms after printing 5000 lines: every line is kept."""
    write_suite(runs_project, "loud", "import sys\nfor i in range(5000):\n    print(f'loud-{i}')\n"
                                      "def test_a():\n    pass\n")
    run_id = start_detached_then_kill_everything(runs_project, "--", "-s")
    result = runs_project.envctl("wait", run_id)
    assert result.returncode == 0, result.output
    log = (Path(runs_project.env["ENVCTL_LOG_DIR"]) / run_id / "output.log").read_text()
    for i in (0, 1234, 4999):
        assert f"loud-{i}\n" in log


def test_taking_over_a_talking_container_keeps_the_log_from_its_first_byte(runs_project) -> None:  # type: ignore[no-untyped-def]
    """The collector is killed while the tests print; the one that takes over keeps every line,
    the first included (an attach replays the stored log, then joins the stream: what comes in
    between was lost, and once the whole head of the log)."""
    write_suite(runs_project, "talk", "import time\ndef test_a():\n    for i in range(3000):\n"
                                      "        print(f'tick-{i}', flush=True)\n        time.sleep(0.001)\n")
    run_id = start_detached_then_kill_everything(runs_project, "--", "-s", started=False)
    # (a collector started again and killed once the ticks are flowing)
    log_path = Path(runs_project.env["ENVCTL_LOG_DIR"]) / run_id / "output.log"
    runs_project.envctl("status", run_id)
    wait = subprocess.Popen([sys.executable, "-m", "envctl", "wait", run_id], cwd=runs_project.path,
                            env=runs_project.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while "tick-100\n" not in (log_path.read_text() if log_path.exists() else ""):
        assert time.monotonic() < deadline, "the ticks never reached the log"
        time.sleep(0.02)
    wait.kill()
    wait.wait()
    kill_all_envctl(runs_project.env["ENVCTL_LOG_DIR"])
    result = runs_project.envctl("wait", run_id)
    assert result.returncode == 0, result.output
    log = log_path.read_text()
    assert "test session starts" in log
    ticks = [int(tick) for tick in re.findall(r"tick-(\d+)\n", log)]
    assert ticks == list(range(3000))


def test_status_of_a_running_run_and_its_final_record(runs_project) -> None:  # type: ignore[no-untyped-def]
    """status shows running with progress while the tests go; the record ends passed."""
    write_suite(runs_project, "slow", "import time, pytest\n@pytest.mark.parametrize('i', range(6))\n"
                                      "def test_a(i):\n    time.sleep(0.5)\n")
    started = runs_project.envctl("test", "--detach", "--json")
    assert started.returncode == 0, started.output
    run_id = json.loads(started.stdout)["id"]
    deadline = time.monotonic() + 30
    status: dict[str, object] = {}
    while time.monotonic() < deadline:
        status = json.loads(runs_project.envctl("status", run_id, "--json").stdout)
        if status["progress"]["done"] >= 2:  # type: ignore[index]
            break
        time.sleep(0.3)
    assert status["state"] == "running"
    assert status["progress"]["total"] == 6  # type: ignore[index]
    assert status["progress"]["current"]  # type: ignore[index]
    assert status["limits"] == {"memory": 2 << 30, "cpus": 2.0, "pids": 1024}
    result = runs_project.envctl("wait", run_id)
    assert result.returncode == 0, result.output
    record = json.loads((Path(runs_project.env["ENVCTL_LOG_DIR"]) / run_id / "run.json").read_text())
    assert record["counts"]["passed"] == 6
    assert oct(Path(runs_project.env["ENVCTL_LOG_DIR"], run_id, "run.json").stat().st_mode & 0o777) == "0o600"
    assert oct(Path(runs_project.env["ENVCTL_LOG_DIR"], run_id).stat().st_mode & 0o777) == "0o700"


def test_oom_kill_names_the_running_test(runs_project) -> None:  # type: ignore[no-untyped-def]
    """A test that allocates past --memory ends oom-killed, naming that test."""
    write_suite(runs_project, "hungry", "def test_small():\n    pass\n\n"
                                        "def test_hog():\n    b = bytearray(600 * 1024 * 1024)\n"
                                        "    assert b\n")
    result = runs_project.envctl("test", "--memory", "128m")
    assert result.returncode == ExitCode.OOM_KILLED, result.output
    assert "oom-killed" in result.stderr
    assert "test_hungry.py::test_hog" in result.stderr


def test_timeout_is_enforced_with_no_envctl_process_alive(runs_project) -> None:  # type: ignore[no-untyped-def]
    """--timeout 3s on a 60 s test: timed-out, though every envctl process was killed."""
    write_suite(runs_project, "sleepy", "import time\ndef test_sleep():\n    time.sleep(60)\n")
    run_id = start_detached_then_kill_everything(runs_project, "--timeout", "3s")
    time.sleep(6)
    assert envctl_pids(runs_project.env["ENVCTL_LOG_DIR"]) == []
    result = runs_project.envctl("wait", run_id, timeout=60)
    assert result.returncode == ExitCode.TIMED_OUT, result.output
    assert "timed-out" in result.stderr
    assert "test_sleepy.py::test_sleep" in result.stderr


def test_stop_cancels_and_leaves_no_container(runs_project) -> None:  # type: ignore[no-untyped-def]
    """stop: cancelled, and the test container is gone."""
    write_suite(runs_project, "sleepy", "import time\ndef test_sleep():\n    time.sleep(60)\n")
    started = runs_project.envctl("test", "--detach")
    run_id = started.stdout.strip().splitlines()[-1]
    time.sleep(2)
    result = runs_project.envctl("stop", run_id)
    assert result.returncode == 0, result.output
    assert "cancelled" in result.stderr
    assert runs_project.envctl("wait", run_id).returncode == ExitCode.CANCELLED
    assert runs_project.leftovers().get("containers", []) == [f"{runs_project.name}-sidecar-1"]


def start_detached_together(project, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """`envctl test --detach` ``count`` times at once; the run ids."""
    procs = [subprocess.Popen([sys.executable, "-m", "envctl", "test", "--detach"], cwd=project.path,
                              env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(count)]
    ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        ids.append(out.strip().splitlines()[-1])
    return ids


def test_runs_started_together_on_a_down_environment_bring_it_up_once(make_project) -> None:  # type: ignore[no-untyped-def]
    """Three detached runs at once, nothing up yet: one brings the environment up, the others
    wait for it; all pass, and the project has one network (two compose processes creating it
    at once leave two of one name, and every later start fails as "ambiguous")."""
    project = make_project("runs")
    write_suite(project, "p", "def test_a():\n    pass\n")
    for run_id in start_detached_together(project, 3):
        result = project.envctl("wait", run_id)
        assert result.returncode == 0, result.output
    networks = subprocess.run(["docker", "network", "ls", "--filter", f"name={project.name}_",
                               "--format", "{{.Name}}"], capture_output=True, text=True, timeout=30,
                              check=True).stdout.split()
    assert networks == [f"{project.name}_default"]
    project.envctl("down", "--volumes")


def test_four_runs_at_once_have_distinct_correct_records(runs_project) -> None:  # type: ignore[no-untyped-def]
    """Four detached runs started together all finish, each with its own record."""
    write_suite(runs_project, "p", "import pytest\n@pytest.mark.parametrize('i', range(3))\n"
                                   "def test_a(i):\n    assert i != 99\n")
    ids = start_detached_together(runs_project, 4)
    assert len(set(ids)) == 4
    for run_id in ids:
        result = runs_project.envctl("wait", run_id)
        assert result.returncode == 0, result.output
        record = json.loads((Path(runs_project.env["ENVCTL_LOG_DIR"]) / run_id / "run.json").read_text())
        assert record["id"] == run_id
        assert record["counts"]["passed"] == 3


def test_rotation_keeps_three_and_never_the_running_run(runs_project) -> None:  # type: ignore[no-untyped-def]
    """keep_runs=3 after 5 runs: 3 are left; a running one is never removed."""
    env = {"ENVCTL_KEEP_RUNS": "3"}
    write_suite(runs_project, "ok", "def test_a():\n    pass\n")
    for _ in range(4):
        assert runs_project.envctl("test", extra_env=env).returncode == 0
    write_suite(runs_project, "sleepy", "import time\ndef test_sleep():\n    time.sleep(8)\n")
    running = runs_project.envctl("test", "--detach", extra_env=env).stdout.strip().splitlines()[-1]
    gc = runs_project.envctl("gc", extra_env={"ENVCTL_KEEP_RUNS": "1"})
    assert gc.returncode == 0, gc.output
    ids = [r["run"] for r in json.loads(runs_project.envctl("runs", "--json").stdout)["runs"]]
    assert running in ids  # running and latest: never removed
    assert runs_project.envctl("wait", running).returncode == 0
    ids = [r["run"] for r in json.loads(runs_project.envctl("runs", "--json", extra_env=env).stdout)["runs"]]
    assert len(ids) <= 3


def test_hostile_output_is_kept_up_to_the_cap(runs_project) -> None:  # type: ignore[no-untyped-def]
    """Invalid UTF-8, no final newline and a 100 MB line: the run finishes, the log is capped
    at max_log_size, says what was cut, and keeps the start and the end."""
    write_suite(runs_project, "hostile",
                "import sys\n"
                "def test_noise():\n"
                "    out = sys.stdout.buffer\n"
                "    out.write(b'START\\xff\\xfe\\n')\n"
                "    for _ in range(100):\n"
                "        out.write(b'x' * (1 << 20))\n"
                "    out.write(b'\\nEND-NO-NEWLINE')\n"
                "    out.flush()\n")
    result = runs_project.envctl("test", "--", "-s", "-p", "no:cacheprovider",
                                 extra_env={"ENVCTL_MAX_LOG_SIZE": "8m"})
    assert result.returncode == 0, result.output[-2000:]
    log = (Path(runs_project.env["ENVCTL_LOG_DIR"]) / "latest").parent
    run_dir = sorted(p for p in log.iterdir() if p.name[0].isdigit())[-1]
    data = (run_dir / "output.log").read_bytes()
    assert len(data) < (8 << 20) + 4096
    assert b"START\xff\xfe\n" in data
    assert b"bytes of output cut here" in data
    assert b"END-NO-NEWLINE" in data
    assert b"1 passed" in data


def test_without_injection_progress_comes_from_output_and_reports_are_copied_out(runs_project) -> None:  # type: ignore[no-untyped-def]
    """inject_plugin=off (what a remote engine gets): no mounts; the timeout still holds (the
    runner goes inline), JUnit is copied out of the container, counts come from pytest's output."""
    env = {"ENVCTL_INJECT_PLUGIN": "off"}
    write_suite(runs_project, "mixed", "def test_a():\n    pass\n\ndef test_b():\n    assert 0\n")
    result = runs_project.envctl("test", extra_env=env)
    assert result.returncode == 1, result.output
    report = json.loads(runs_project.envctl("report", "--format", "json").stdout)
    assert report["counts"]["passed"] == 1
    assert report["counts"]["failed"] == 1
    assert report["junit"]
    write_suite(runs_project, "sleepy", "import time\ndef test_sleep():\n    time.sleep(60)\n")
    timed_out = runs_project.envctl("test", "--timeout", "2s", extra_env=env)
    assert timed_out.returncode == ExitCode.TIMED_OUT, timed_out.output


def test_docker_context_is_honoured(runs_project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--context NAME reaches the engine the context names (here: the local socket, and a dead one)."""
    live, dead = f"{runs_project.name}-live", f"{runs_project.name}-dead"
    subprocess.run(["docker", "context", "create", live, "--docker", "host=unix:///var/run/docker.sock"],
                   capture_output=True, check=True, timeout=30)
    subprocess.run(["docker", "context", "create", dead, "--docker", f"host=unix://{tmp_path}/no.sock"],
                   capture_output=True, check=True, timeout=30)
    try:
        assert runs_project.envctl("--context", live, "ps", "--json").returncode == 0
        down = runs_project.envctl("--context", dead, "ps")
        assert down.returncode == ExitCode.ENGINE_UNAVAILABLE, down.output
        assert f"{tmp_path}/no.sock" in down.stderr
    finally:
        subprocess.run(["docker", "context", "rm", "-f", live, dead], capture_output=True, timeout=30,
                       check=False)


def test_ctrl_c_on_a_foreground_run_cancels_it(runs_project) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C: the container is stopped (interrupt first), the run is cancelled, exit 130."""
    write_suite(runs_project, "sleepy", "import time\ndef test_sleep():\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-m", "envctl", "test"], cwd=runs_project.path,
                            env=runs_project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log_dir = Path(runs_project.env["ENVCTL_LOG_DIR"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the test has started: its progress in the exchange folder
        runs = [p for p in log_dir.iterdir() if p.name[0].isdigit()] if log_dir.exists() else []
        if runs and (log_dir / ".exchange" / runs[0].name / "progress.json").exists():
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the test never started")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    status = json.loads(runs_project.envctl("status", "--json").stdout)
    assert status["state"] == "cancelled"
    assert status["running_test"] == "test_sleepy.py::test_sleep"
    assert runs_project.leftovers().get("containers", []) == [f"{runs_project.name}-sidecar-1"]


def test_logs_tail_and_follow(runs_project) -> None:  # type: ignore[no-untyped-def]
    """logs --tail N gives the last lines; logs -f follows a running run to its end."""
    write_suite(runs_project, "talk", "import time\ndef test_talk():\n"
                                      "    for i in range(20):\n        print(f'line-{i}', flush=True)\n"
                                      "        time.sleep(0.1)\n")
    run_id = runs_project.envctl("test", "--detach", "--", "-s").stdout.strip().splitlines()[-1]
    followed = runs_project.envctl("logs", run_id, "-f")
    assert followed.returncode == 0
    assert "line-0\n" in followed.stdout
    assert "line-19\n" in followed.stdout
    runs_project.envctl("wait", run_id)
    tail = runs_project.envctl("logs", run_id, "--tail", "3")
    assert len(tail.stdout.splitlines()) == 3
    assert "passed" in tail.stdout.splitlines()[-1]


def test_logs_timestamps_say_when_each_line_arrived(runs_project) -> None:  # type: ignore[no-untyped-def]
    """logs -t, followed while the run goes and read after it: every line behind a UTC time,
    the same lines both ways, and a line printed 1.5 s later carries a time 1.5 s later."""
    from datetime import datetime  # noqa: PLC0415

    write_suite(runs_project, "clock", "import time\ndef test_clock():\n    print('tick', flush=True)\n"
                                       "    time.sleep(1.5)\n    print('tock', flush=True)\n")
    run_id = runs_project.envctl("test", "--detach", "--", "-s").stdout.strip().splitlines()[-1]
    followed = runs_project.envctl("logs", run_id, "-f", "--timestamps")
    assert followed.returncode == 0, followed.output
    assert runs_project.envctl("wait", run_id).returncode == 0
    after = runs_project.envctl("logs", run_id, "-t").stdout
    assert followed.stdout == after

    def at(word: str) -> datetime:
        line = next(line for line in after.splitlines() if word in line)
        return datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00"))

    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")
    assert all(stamp.match(line) for line in after.splitlines()), after
    assert 1.3 <= (at("tock") - at("tick")).total_seconds() <= 3.0
    tail = runs_project.envctl("logs", run_id, "-t", "--tail", "1").stdout.splitlines()
    assert tail == after.splitlines()[-1:]


def test_environment_failure_is_infra_error_not_a_test_result(make_project) -> None:  # type: ignore[no-untyped-def]
    """When the environment cannot come up, the run ends infra-error (23), never failed (1)."""
    project = make_project("runs")
    compose = project.path / "compose.yaml"
    compose.write_text(compose.read_text().replace('test: ["CMD", "true"]', 'test: ["CMD", "false"]')
                       .replace("retries: 5", "retries: 2"))
    started = project.envctl("test", "--detach")
    assert started.returncode == 0, started.output
    run_id = started.stdout.strip().splitlines()[-1]
    result = project.envctl("wait", run_id)
    assert result.returncode == ExitCode.INFRA_ERROR, result.output
    status = json.loads(project.envctl("status", run_id, "--json").stdout)
    assert status["state"] == "infra-error"
    assert "sidecar: unhealthy" in status["message"]
    assert project.leftovers() == {}


def test_container_removed_behind_envctls_back_is_lost(runs_project) -> None:  # type: ignore[no-untyped-def]
    """A test container that vanishes without a record ends `lost` (24)."""
    write_suite(runs_project, "sleepy", "import time\ndef test_sleep():\n    time.sleep(60)\n")
    run_id = start_detached_then_kill_everything(runs_project)
    record = json.loads((Path(runs_project.env["ENVCTL_LOG_DIR"]) / run_id / "run.json").read_text())
    subprocess.run(["docker", "rm", "-f", record["container"]], capture_output=True, check=True, timeout=60)
    result = runs_project.envctl("wait", run_id)
    assert result.returncode == ExitCode.LOST, result.output


def test_python_api(runs_project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Environment(...).test(detach=True) -> Run with status(), wait() and stop()."""
    from envctl.api import Environment, RunRequest  # noqa: PLC0415
    from envctl.settings import load_settings  # noqa: PLC0415

    write_suite(runs_project, "api", "def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    for key, value in runs_project.env.items():
        if key.startswith("ENVCTL_"):
            monkeypatch.setenv(key, value)
    env = Environment(load_settings(runs_project.path))
    run = env.test(RunRequest(pytest_args=("-q",)), detach=True)
    record = run.wait(timeout=120)
    assert record.exit_code == 0
    assert run.status().progress.counts.passed == 2
    assert run.stop().state.value == "passed"  # stopping a finished run changes nothing
