"""A non-root host user in the docker group, a root test container: the normal hosted CI runner.
Every result is readable by the host user, whatever uid wrote it (issue 9, item 1).

Run as root (as this project's CI is), the test creates an unprivileged user in the docker
group and runs envctl as that user; run as any other user, it runs envctl as itself."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TEST_PROJECT_PREFIX
from tests.integration.conftest import FIXTURES, Result, base_env

pytestmark = pytest.mark.docker

USER = "envctl-ci"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class HostUser:
    """How to run a command as the unprivileged host user, and with which Python."""

    uid: int
    gid: int
    prefix: list[str]
    python: str
    pythonpath: str


def _probe(user: HostUser) -> bool:
    proc = subprocess.run([*user.prefix, user.python, "-c", "import envctl.cli, docker, python_on_whales"],
                          env={"PYTHONPATH": user.pythonpath, "PATH": os.environ["PATH"]},
                          capture_output=True, timeout=60, check=False)
    return proc.returncode == 0


@pytest.fixture(scope="module")
def host_user() -> Iterator[HostUser]:
    if os.geteuid() != 0:
        yield HostUser(os.getuid(), os.getgid(), [], sys.executable, str(REPO))
        return
    if subprocess.run(["getent", "passwd", USER], capture_output=True, check=False).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "--groups", "docker", USER], check=True, capture_output=True, timeout=60)
    entry = pwd.getpwnam(USER)
    prefix = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", "--"]
    # The venv's interpreter may live under root's home; Debian's python3 and the venv's
    # packages (pure Python, or built for the same CPython ABI) serve the host user.
    python = next((p for p in ("/usr/bin/python3.11", "/usr/bin/python3") if Path(p).exists()),
                  shutil.which("python3") or "python3")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = Path(sys.prefix) / "lib" / version / "site-packages"
    user = HostUser(entry.pw_uid, entry.pw_gid, prefix, python, f"{REPO}:{site}")
    copy = None
    if not _probe(user):  # the checkout is not readable by others: a readable copy
        copy = Path(tempfile.mkdtemp(prefix="envctl-host-user-", dir="/tmp"))
        copy.chmod(0o755)
        shutil.copytree(REPO / "envctl", copy / "src" / "envctl")
        shutil.copytree(site, copy / "site", symlinks=True)
        user.pythonpath = f"{copy / 'src'}:{copy / 'site'}"
        subprocess.run(["chmod", "-R", "a+rX", str(copy)], check=True, timeout=60)
        assert _probe(user), "the unprivileged user cannot import envctl"
    yield user
    if copy is not None:
        shutil.rmtree(copy, ignore_errors=True)


@pytest.fixture(params=["root", "4321:4321"], ids=["container-root", "container-uid-4321"])
def user_project(host_user: HostUser,
                 request: pytest.FixtureRequest) -> Iterator[tuple[Path, dict[str, str]]]:
    base = Path(tempfile.mkdtemp(prefix="envctl-host-project-", dir="/tmp"))
    name = f"{TEST_PROJECT_PREFIX}user{os.getpid()}"
    path = base / name
    shutil.copytree(FIXTURES / "runs", path)
    if request.param != "root":  # the test container runs as a uid that is neither root nor the host's
        compose = path / "compose.yaml"
        compose.write_text(compose.read_text().replace(
            "    working_dir: /suite\n", f"    working_dir: /suite\n    user: \"{request.param}\"\n"))
    (path / "suite" / "test_ok.py").write_text(
        "def test_passes():\n    pass\n\ndef test_fails():\n    assert 1 == 2, 'one is not two'\n")
    env = base_env(base) | {"ENVCTL_PROJECT_NAME": name, "ENVCTL_HEALTH_TIMEOUT": "60s",
                            "PYTHONPATH": host_user.pythonpath, "HOME": str(base)}
    subprocess.run(["chown", "-R", f"{host_user.uid}:{host_user.gid}", str(base)], check=True, timeout=60)
    yield path, env
    subprocess.run(["docker", "compose", "-p", name, "down", "-v", "-t", "1"], capture_output=True,
                   timeout=60, check=False)
    shutil.rmtree(base, ignore_errors=True)


def as_user(user: HostUser, project: tuple[Path, dict[str, str]], *args: str, timeout: float = 300) -> Result:
    path, env = project
    proc = subprocess.run([*user.prefix, user.python, "-m", "envctl", *args], cwd=path, env=env,
                          capture_output=True, text=True, errors="replace", timeout=timeout, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr, 0.0)


def test_results_are_readable_by_a_non_root_host_user(host_user: HostUser, user_project) -> None:  # type: ignore[no-untyped-def]
    """JUnit, events and progress written in the container by root, or by a uid of its own:
    report, rerun-failed and a --shards parent are right for the host user, who can also remove
    the run."""
    assert as_user(host_user, user_project, "up").returncode == 0
    first = as_user(host_user, user_project, "test", "--", "-q")
    assert first.returncode == 1, first.output
    runs = json.loads(as_user(host_user, user_project, "runs", "--json").stdout)["runs"]
    run_id = runs[-1]["run"]
    run_dir = Path(user_project[1]["ENVCTL_LOG_DIR"]) / run_id
    for name in ("junit.xml", "events.jsonl"):
        assert (run_dir / name).stat().st_uid == host_user.uid, name
    assert not (run_dir.parent / ".exchange" / run_id).exists()  # removed once copied
    junit = as_user(host_user, user_project, "report", run_id, "--format", "junit")
    assert 'name="test_fails"' in junit.stdout, junit.output
    report = json.loads(as_user(host_user, user_project, "report", run_id, "--format", "json").stdout)
    assert [f["test"] for f in report["failures"]] == ["test_ok.py::test_fails"]
    rerun = as_user(host_user, user_project, "test", "--rerun-failed", "latest", "--", "-q")
    assert rerun.returncode == 1, rerun.output
    assert "rerunning 1 failed test(s)" in rerun.stderr
    assert "1 failed" in rerun.stdout
    assert "passed" not in rerun.stdout.split("short test summary")[-1]
    shards = as_user(host_user, user_project, "test", "--shards", "2")
    assert shards.returncode == 1, shards.output
    listed = json.loads(as_user(host_user, user_project, "runs", "--json").stdout)["runs"]
    assert [r["state"] for r in listed if r.get("children")] == ["failed"]
    removed = subprocess.run([*host_user.prefix, host_user.python, "-c",
                              f"import shutil; shutil.rmtree({str(run_dir)!r})"],
                             capture_output=True, text=True, timeout=60, check=False)
    assert removed.returncode == 0, removed.stderr
    assert not run_dir.exists()
    assert as_user(host_user, user_project, "down").returncode == 0


@pytest.mark.parametrize("user_project", ["root"], indirect=True)
def test_a_host_run_as_a_user_says_its_limits_are_not_applied(host_user: HostUser, user_project) -> None:  # type: ignore[no-untyped-def]
    """`test --host` by a user who may make no cgroup: the tests run, unlimited, and status says so."""
    path, env = user_project
    command = {"ENVCTL_HOST_COMMAND": f"{host_user.python} -m pytest"}
    ran = as_user(host_user, (path, env | command), "test", "--host", "--", "-q", "suite")
    assert ran.returncode == 1, ran.output
    status = json.loads(as_user(host_user, user_project, "status", "--json").stdout)
    assert (status["state"], status["on_host"], status["progress"]["passed"]) == ("failed", True, 1)
    assert status["limits_not_applied"].startswith("cannot create a cgroup under /sys/fs/cgroup"), status
    text = as_user(host_user, user_project, "status").stdout
    assert "on this machine: limits NOT applied: cannot create a cgroup" in text
    assert as_user(host_user, user_project, "down").returncode == 0


LEAVE_STUCK = """import os, pathlib

def test_leaves_a_folder_the_host_user_cannot_remove():
    cache = pathlib.Path(os.environ["ENVCTL_PROGRESS_DIR"]) / "cache"
    (cache / "deep").mkdir(parents=True)
    (cache / "deep" / "data").write_text("x")
    (cache / "deep").chmod(0o500)
    cache.chmod(0o700)
"""
ORPHAN = "20200101-000000-dead"  # an exchange folder whose run is gone: rotation's to purge


def _helpers(run_id: str) -> list[str]:
    """Containers left carrying the run's label (a test container or a purge helper)."""
    listed = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.envctl.run={run_id}"],
                            capture_output=True, text=True, timeout=60, check=True)
    return listed.stdout.split()


@pytest.mark.parametrize("user_project", ["4321:4321"], indirect=True)
def test_what_a_non_root_container_leaves_goes_with_rotation(host_user: HostUser, user_project) -> None:  # type: ignore[no-untyped-def]
    """The tests (uid 4321) leave a 0700 folder holding a 0500 one in their exchange folder, which the
    non-root host user cannot remove: it is purged (at clean-up or rotation) through a helper container,
    and no helper is left; with no engine, gc keeps it and succeeds."""
    path, env = user_project
    (path / "suite" / "test_leave.py").write_text(LEAVE_STUCK)
    subprocess.run(["chown", f"{host_user.uid}:{host_user.gid}", str(path / "suite" / "test_leave.py")],
                   check=True, timeout=60)
    assert as_user(host_user, user_project, "up").returncode == 0
    ran = as_user(host_user, user_project, "test", "--", "-q", "test_leave.py")
    assert ran.returncode == 0, ran.output
    run_id = json.loads(as_user(host_user, user_project, "runs", "--json").stdout)["runs"][-1]["run"]
    exchange = Path(env["ENVCTL_LOG_DIR"]) / ".exchange"
    assert not (exchange / run_id).exists()  # purged at clean-up
    assert _helpers(run_id) == []
    # The same left by a run since removed, as an earlier envctl (or one without an engine) left it.
    subprocess.run([*host_user.prefix, "mkdir", "-m", "0777", str(exchange / ORPHAN)], check=True, timeout=60)
    subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "4321:4321",
                    "-v", f"{exchange / ORPHAN}:/x", "--entrypoint", "sh", "envctltest-pytest:1", "-c",
                    "mkdir -p /x/cache/deep && echo x > /x/cache/deep/data && chmod 500 /x/cache/deep && "
                    "chmod 700 /x/cache"], check=True, capture_output=True, timeout=120)
    no_engine = (path, env | {"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    kept = as_user(host_user, no_engine, "gc")
    assert kept.returncode == 0, kept.output
    assert (exchange / ORPHAN / "cache").exists()
    purged = as_user(host_user, user_project, "gc")
    assert purged.returncode == 0, purged.output
    assert not (exchange / ORPHAN).exists()
    assert _helpers(ORPHAN) == []
    assert as_user(host_user, user_project, "down").returncode == 0

