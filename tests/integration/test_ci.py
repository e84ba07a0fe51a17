"""CI mode and scale-out against the real engine: `wait --ci`, shards, merge, rerun-failed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envctl.errors import ExitCode
from tests.integration.conftest import Project, kill_all_envctl, write_suite

pytestmark = pytest.mark.docker

ELEVEN_FAILURES = (
    "import pytest\n"
    "@pytest.mark.parametrize('i', range(11))\n"
    "def test_fails(i):\n"
    "    assert i < 0, f'value {i} is not negative'\n"
    "def test_prints_commands():\n"
    "    print('::error::injected by a test')\n"
    "    print('::add-mask::hunter2')\n"
    "def test_ok():\n"
    "    pass\n"
)


def github_env(tmp_path: Path) -> dict[str, str]:
    summary = tmp_path / "step-summary.md"
    return {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "CI": "true"}


def test_wait_ci_annotations_summary_and_no_injected_commands(runs_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """11 failures give 10 error annotations and a '1 more' notice; a test's ::error:: and
    ::add-mask:: are inert (inside stop-commands); the summary has the counts and failures; the
    exit code is pytest's."""
    write_suite(runs_project, {"test_many.py": ELEVEN_FAILURES})
    run_id = runs_project.envctl("test", "--detach", "--", "-s").stdout.strip().splitlines()[-1]
    env = github_env(tmp_path)
    result = runs_project.envctl("wait", run_id, extra_env=env)
    assert result.returncode == 1, result.output
    lines = result.stdout.splitlines()
    errors = [line for line in lines if line.startswith("::error ")]
    assert len(errors) == 10  # GitHub's budget of error annotations a step
    notices = [line for line in lines if line.startswith("::notice ")]
    assert len(notices) == 1 and "1 more failed tests" in notices[0]
    assert "file=suite/test_many.py,line=4" in errors[0]  # the repository path, mapped through the mount
    start = next(i for i, line in enumerate(lines) if line.startswith("::stop-commands::"))
    token = lines[start].removeprefix("::stop-commands::")
    end = lines.index(f"::{token}::")
    fake = ("::error::injected by a test", "::add-mask::hunter2")
    injected = [i for i, line in enumerate(lines) if line in fake]
    assert injected
    assert all(start < i < end for i in injected)
    assert lines[0].startswith("envctl: ") and "run " + run_id in lines[0]  # a heartbeat first
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "1 passed" in summary or "2 passed" in summary
    assert "11 failed" in summary
    assert "value 3 is not negative" in summary


def test_wait_ci_sigterm_stops_the_run_with_a_partial_summary(runs_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A cancelled job: SIGTERM -> the container is stopped, a partial summary, exit 143 within 7 s."""
    write_suite(runs_project, {"test_slow.py": "import time\ndef test_slow():\n    time.sleep(120)\n"})
    run_id = runs_project.envctl("test", "--detach").stdout.strip().splitlines()[-1]
    env = {**runs_project.env, **github_env(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "envctl", "wait", run_id], cwd=runs_project.path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(4)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _err = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.TERMINATED
    assert time.monotonic() - sent < 7
    assert b"cancelled" in out
    assert "partial" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    status = json.loads(runs_project.envctl("status", run_id, "--json").stdout)
    assert status["state"] == "cancelled"
    assert runs_project.leftovers().get("containers", []) == [f"{runs_project.name}-sidecar-1"]


SHARDED = {
    f"test_mod{m}.py": f"import pytest\n@pytest.mark.parametrize('i', range({3 + m}))\n"
                       "def test_x(i):\n    assert i != 2\n"
    for m in range(5)
}


def test_shards_cover_every_test_once_and_merge_equals_the_single_run(runs_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--shard k/3 for k=1..3 run each test once; `report merge` of them equals one full run;
    --rerun-failed runs exactly the failures."""
    write_suite(runs_project, SHARDED)
    log_dir = Path(runs_project.env["ENVCTL_LOG_DIR"])
    full = runs_project.envctl("test", "--", "-q")
    assert full.returncode == 1, full.output
    full_id = sorted(p.name for p in log_dir.iterdir() if p.name[0].isdigit())[-1]
    shard_ids = []
    for k in (1, 2, 3):
        result = runs_project.envctl("test", "--shard", f"{k}/3")
        assert result.returncode in (0, 1), result.output
        shard_ids.append(sorted(p.name for p in log_dir.iterdir() if p.name[0].isdigit())[-1])
    reports = {}
    for run_id in shard_ids:
        data = json.loads(runs_project.envctl("report", run_id, "--format", "json").stdout)
        reports[run_id] = data
    total = sum(r["counts"]["total"] for r in reports.values())
    assert total == 5 * 3 + sum(range(5))  # 25 tests
    merged = runs_project.envctl("report", "merge", *(str(log_dir / i) for i in shard_ids),
                                 "--format", "json", "--durations-out", str(tmp_path / "durations.json"))
    assert merged.returncode == 1, merged.output
    single = runs_project.envctl("report", "merge", str(log_dir / full_id), "--format", "json",
                                 "--durations-out", str(tmp_path / "d2.json"))
    merged_data, single_data = json.loads(merged.stdout), json.loads(single.stdout)
    assert merged_data["counts"] == single_data["counts"]
    failed = sorted(f["test"] for f in merged_data["failures"])
    assert failed == sorted(f["test"] for f in single_data["failures"])
    assert len(json.loads((tmp_path / "durations.json").read_text())) == 25
    rerun = runs_project.envctl("test", "--rerun-failed", full_id, "--", "-q")
    assert rerun.returncode == 1, rerun.output
    rerun_report = json.loads(runs_project.envctl("report", "--format", "json").stdout)
    assert rerun_report["counts"]["total"] == 5  # i == 2 fails once in each of the 5 files
    write_suite(runs_project, {"test_ok.py": "def test_ok():\n    pass\n"})
    assert runs_project.envctl("test").returncode == 0
    nothing = runs_project.envctl("test", "--rerun-failed", "latest")
    assert nothing.returncode == 0
    assert "nothing failed" in nothing.stderr


def test_empty_shard_is_not_a_failure(runs_project) -> None:  # type: ignore[no-untyped-def]
    """More shards than tests: the empty shard passes."""
    write_suite(runs_project, {"test_one.py": "def test_one():\n    pass\n"})
    results = [runs_project.envctl("test", "--shard", f"{k}/3").returncode for k in (1, 2, 3)]
    assert sorted(results) == [0, 0, 0]


def test_a_shard_failing_without_a_failed_test_fails_the_parent(runs_project) -> None:  # type: ignore[no-untyped-def]
    """Shard 2's pytest exits 1 from a sessionfinish hook (a coverage threshold, say) with every
    test case passing: the --shards parent is failed with exit 1, not passed (issue 9, item 3)."""
    write_suite(runs_project, {
        "test_a.py": "def test_a():\n    pass\n", "test_b.py": "def test_b():\n    pass\n",
        "conftest.py": ("import os\n\ndef pytest_sessionfinish(session, exitstatus):\n"
                        "    if os.environ.get('ENVCTL_SHARD') == '2/2':\n"
                        "        session.exitstatus = 1\n")})
    result = runs_project.envctl("test", "--shards", "2")
    assert result.returncode == 1, result.output
    parent = json.loads(runs_project.envctl("report", "--format", "json").stdout)
    assert (parent["state"], parent["exit_code"]) == ("failed", 1)
    assert parent["counts"]["passed"] == 2
    assert "pytest exited 1 in shard 2/2" in parent["message"]


def test_local_shards_merge_to_the_same_counts_and_clean_up(runs_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--shards 3: three isolated projects at once, merged to the counts of a single run, and
    nothing of the shard projects left."""
    write_suite(runs_project, SHARDED)
    durations = tmp_path / "durations.json"
    env = {"ENVCTL_DURATIONS_FILE": str(durations)}
    single = runs_project.envctl("test", "--", "-q", extra_env=env)
    assert single.returncode == 1, single.output
    single_counts = json.loads(runs_project.envctl("report", "--format", "json").stdout)["counts"]
    sharded = runs_project.envctl("test", "--shards", "3", extra_env=env)
    assert sharded.returncode == 1, sharded.output
    parent = json.loads(runs_project.envctl("report", "--format", "json").stdout)
    for key in ("total", "passed", "failed"):
        assert parent["counts"][key] == single_counts[key]
    assert len(json.loads(durations.read_text())) == 25
    shard_projects = {p for kind in runs_project.leftovers().values() for p in kind} - {
        f"{runs_project.name}-sidecar-1", f"{runs_project.name}_default"}
    from tests.conftest import leftovers  # noqa: PLC0415

    assert leftovers(f"{runs_project.name}-s") == {}, shard_projects


def test_shards_build_once_under_the_base_name_and_leave_no_images(runs_project) -> None:  # type: ignore[no-untyped-def]
    """A test service with `build:` and no `image:`: the shards share one image named after the
    base project, built once, and no shard project leaves an image of its own."""
    compose = runs_project.path / "compose.yaml"
    compose.write_text(compose.read_text().replace("    image: envctltest-pytest:1\n", ""))
    write_suite(runs_project, {"test_ok.py": "def test_ok():\n    pass\n",
                               "test_two.py": "def test_two():\n    pass\n"})
    base_image = f"{runs_project.name}-test"
    try:
        result = runs_project.envctl("test", "--shards", "3")
        assert result.returncode == 0, result.output
        tags = subprocess.run(["docker", "images", "--format", "{{.Repository}}"], capture_output=True,
                              text=True, timeout=30, check=True).stdout.split()
        assert [t for t in tags if t.startswith(runs_project.name)] == [base_image]
        parent = json.loads(runs_project.envctl("status", "--json").stdout)
        log = (Path(runs_project.env["ENVCTL_LOG_DIR"]) / parent["run"] / "collector.log").read_text()
        assert log.count("building images") == 1, log
    finally:
        subprocess.run(["docker", "rmi", base_image], capture_output=True, timeout=60, check=False)


SLOW_SHARDED = {
    f"test_slow{m}.py": "import time\nimport pytest\n@pytest.mark.parametrize('i', range(4))\n"
                        f"def test_x(i):\n    time.sleep(1)\n    assert (i, {m}) != (3, 0)\n"
    for m in range(3)
}


def start_detached_shards(project: Project, shards: int) -> str:
    result = project.envctl("test", "--shards", str(shards), "--detach")
    assert result.returncode == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def shards_running(project, parent: str, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    log_dir = Path(project.env["ENVCTL_LOG_DIR"])
    children = json.loads((log_dir / parent / "run.json").read_text())["children"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [json.loads((log_dir / c / "run.json").read_text())["state"] for c in children]
        if all(state == "running" for state in states):
            return
        time.sleep(0.1)
    raise AssertionError(f"shards of {parent} did not start: {states}")


def test_detached_shards_survive_kill_9_and_read_as_one_run(runs_project) -> None:  # type: ignore[no-untyped-def]
    """`--shards 3 --detach`, every envctl process killed -9 mid-run: `status` shows the shards'
    combined progress, `wait` from a new process returns the merged exit code, `logs` gives each
    shard's log, `runs` nests the shards, and no shard project is left."""
    write_suite(runs_project, SLOW_SHARDED)
    parent = start_detached_shards(runs_project, 3)
    shards_running(runs_project, parent)
    status = runs_project.envctl("status", parent)
    assert status.returncode == 0, status.output
    assert [line.split()[1] for line in status.stdout.splitlines() if line.startswith("shard ")] == [
        "1/3", "2/3", "3/3"], status.stdout
    assert kill_all_envctl(runs_project.env["ENVCTL_LOG_DIR"]) >= 1  # the shards' collector
    waited = runs_project.envctl("wait", parent)
    assert waited.returncode == 1, waited.output
    assert "12 passed" not in waited.stderr and "11 passed, 1 failed" in waited.stderr
    logs = runs_project.envctl("logs", parent).stdout
    assert logs.count("==> shard") == 3 and logs.count("[100%]") == 3
    assert "└ 1/3" in runs_project.envctl("runs").stdout
    from tests.conftest import leftovers  # noqa: PLC0415

    assert leftovers(f"{runs_project.name}-s") == {}


def test_wait_ci_on_a_shards_run_reports_the_merged_results(runs_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`wait --ci` on a --shards run: a folded group per shard's log, one annotation per failure
    across the shards, a summary with the merged counts, and the merged exit code."""
    write_suite(runs_project, SHARDED)
    parent = start_detached_shards(runs_project, 2)
    env = github_env(tmp_path)
    result = runs_project.envctl("wait", parent, extra_env=env)
    assert result.returncode == 1, result.output
    lines = result.stdout.splitlines()
    groups = [line for line in lines if line.startswith("::group::")]
    assert [g.split(": shard ")[1].split()[0] for g in groups] == ["1/2", "2/2"], groups
    assert len([line for line in lines if line.startswith("::error ")]) == 5
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "5 failed" in summary and "20 passed" in summary, summary


def test_logs_follow_on_a_shards_run_interleaves_prefixed_lines(runs_project) -> None:  # type: ignore[no-untyped-def]
    """`logs -f` on a running --shards run: both shards' lines as they come, each behind its
    shard, until both end."""
    write_suite(runs_project, {f"test_talk{m}.py": "import time\nimport pytest\n"
                               "@pytest.mark.parametrize('i', range(3))\n"
                               f"def test_talk(i):\n    print(f'talk{m}-{{i}}', flush=True)\n"
                               "    time.sleep(1)\n" for m in range(2)})
    parent = start_detached_shards(runs_project, 2)
    followed = runs_project.envctl("logs", parent, "-f")
    assert followed.returncode == 0, followed.output
    lines = followed.stdout.splitlines()
    assert {line[:6] for line in lines} == {"[1/2] ", "[2/2] "}, lines
    assert sum("passed" in line for line in lines) == 2, lines
    assert runs_project.envctl("wait", parent).returncode == 0


def assert_cancelled_and_gone(project: Project, parent: str) -> None:
    """The shards run and all its shards are cancelled, and no shard project is left."""
    records = {r["run"]: r for r in json.loads(project.envctl("runs", "--json").stdout)["runs"]}
    assert records[parent]["state"] == "cancelled"
    assert all(records[c]["state"] == "cancelled" for c in records[parent]["children"])
    from tests.conftest import leftovers  # noqa: PLC0415

    assert leftovers(f"{project.name}-s") == {}


def test_stopping_a_shards_run_cancels_every_shard(runs_project) -> None:  # type: ignore[no-untyped-def]
    """`stop` on a --shards run stops all its shards at once: cancelled, nothing left."""
    write_suite(runs_project, {"test_slow.py": "import time\nimport pytest\n"
                                               "@pytest.mark.parametrize('i', range(4))\n"
                                               "def test_x(i):\n    time.sleep(60)\n"})
    parent = start_detached_shards(runs_project, 2)
    shards_running(runs_project, parent)
    started = time.monotonic()
    stopped = runs_project.envctl("stop", parent)
    assert stopped.returncode == 0, stopped.output
    assert time.monotonic() - started < 30
    assert_cancelled_and_gone(runs_project, parent)


def test_ctrl_c_on_a_foreground_shards_run_cancels_every_shard(runs_project) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C on `envctl test --shards 2`: both shards stopped at once, cancelled, exit 130,
    nothing of the shard projects left."""
    write_suite(runs_project, {"test_slow.py": "import time\nimport pytest\n"
                                               "@pytest.mark.parametrize('i', range(4))\n"
                                               "def test_x(i):\n    time.sleep(60)\n"})
    proc = subprocess.Popen([sys.executable, "-m", "envctl", "test", "--shards", "2"], cwd=runs_project.path,
                            env=runs_project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log_dir = Path(runs_project.env["ENVCTL_LOG_DIR"])
    deadline = time.monotonic() + 120
    parent = None
    while parent is None and time.monotonic() < deadline:
        time.sleep(0.1)
        for path in log_dir.glob("*/run.json") if log_dir.exists() else []:
            if json.loads(path.read_text()).get("children"):
                parent = path.parent.name
    assert parent is not None
    shards_running(runs_project, parent)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert time.monotonic() - started < 30
    assert_cancelled_and_gone(runs_project, parent)


def test_two_isolated_runs_in_parallel_both_pass(runs_project) -> None:  # type: ignore[no-untyped-def]
    """Two --isolated runs at once get separate projects and both pass; both are torn down."""
    write_suite(runs_project, {"test_ok.py": "import time\ndef test_ok():\n    time.sleep(1)\n"})
    procs = [subprocess.Popen([sys.executable, "-m", "envctl", "test", "--isolated"],
                              cwd=runs_project.path, env=runs_project.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    records = json.loads(runs_project.envctl("runs", "--json").stdout)["runs"][-2:]
    assert len({r["project"] for r in records}) == 2
    assert all(r["isolated"] for r in records)
    from tests.conftest import leftovers  # noqa: PLC0415

    assert leftovers(f"{runs_project.name}-iso-") == {}


def test_gc_removes_only_stale_isolated_projects(runs_project) -> None:  # type: ignore[no-untyped-def]
    """gc --older-than removes an abandoned isolated project, and leaves the shared one alone."""
    isolated = runs_project.envctl("up", "--isolated")
    assert isolated.returncode == 0, isolated.output
    name = isolated.stdout.strip().splitlines()[-1]
    from tests.conftest import leftovers  # noqa: PLC0415

    assert leftovers(name)
    keep = runs_project.envctl("gc", "--older-than", "1h")
    assert keep.returncode == 0
    assert leftovers(name)  # younger than an hour: kept
    gone = runs_project.envctl("gc", "--older-than", "0s")
    assert gone.returncode == 0, gone.output
    assert f"removed isolated project {name}" in gone.stderr
    assert leftovers(name) == {}
    assert runs_project.leftovers()["containers"] == [f"{runs_project.name}-sidecar-1"]
