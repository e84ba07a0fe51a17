"""The GitHub Action as a GitHub user meets it, under a real Actions runner (act, host mode,
offline): a bare runner with no setup-python, a shard matrix, a failing test, the merge job.
Only the third-party actions (artifacts, cache) are stand-ins; the action and the workflow are
this project's (issue 13)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TEST_PROJECT_PREFIX
from tests.integration.conftest import FIXTURES

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
FIXTURE = FIXTURES / "action"
UPLOAD = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02"
DOWNLOAD = "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093"
CACHE = "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684"
SETUP_PYTHON = "actions/setup-python@42375524e23c412d93fb67b49958b491fce71c38"
DOGFOOD = ("envctl-dogfood-1", "envctl-dogfood-2")  # ci.yml's project per shard
BUNDLED_SERVICES = ("db", "cache", "migrate", "api", "test")
STEPS = ("Install envctl", "Restore recorded test durations", "Restore the tests' history",
         "Bring the environment up", "Start the tests", "Wait for the tests", "Collect the results",
         "Upload the run directory", "Tear the environment down")
SMOKE_COMMAND = ["pytest", "-k", "not slow", "-v"]  # the workflow's pytest-args after the test command


def act_binary() -> str:
    proc = subprocess.run([str(REPO / "scripts" / "setup-act")], capture_output=True, text=True,
                          timeout=600, check=True)
    return proc.stdout.strip().splitlines()[-1]


def user_repository(path: Path, project: str) -> None:
    """A repository with this action at its root (as `uses: ./` finds it) and a project using it."""
    path.mkdir()
    for name in ("action.yml", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, path / name)
    shutil.copytree(REPO / "envctl", path / "envctl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(FIXTURE / "smoke", path / "smoke")
    workflows = path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    workflow = (FIXTURE / "workflow.yml").read_text().replace("@PROJECT@", project)
    (workflows / "envctl.yml").write_text(workflow)
    git = ["git", "-C", str(path), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, timeout=60)
    # act names the repository (GITHUB_REPOSITORY) after the origin remote; it never fetches it.
    subprocess.run([*git, "remote", "add", "origin", "https://github.com/octo/smoke.git"], check=True,
                   timeout=60)
    subprocess.run([*git, "add", "-A"], check=True, timeout=60)
    subprocess.run([*git, "commit", "-q", "-m", "a project that uses envctl"], check=True, timeout=60)


def seed_history(path: Path, head: str) -> None:
    """What earlier merge jobs saved: a run at other code where every test passed, then one at
    this commit where test_passes[0] failed and test_fails did not run. So test_fails is a new
    failure (not failing in the last run), and test_passes[0], passing now, is flaky over the
    history (failed and passed at this commit)."""
    from envctl.history import Outcome, command_key, record  # noqa: PLC0415  # the host's own package

    smoke = "tests/test_smoke.py::"
    command = command_key(SMOKE_COMMAND)
    record(path, "earlier-0", command, "0" * 40, [Outcome(f"{smoke}test_fails", "passed", 1.0),
                                                  *(Outcome(f"{smoke}test_passes[{i}]", "passed", 1.0)
                                                    for i in range(4))], at=1.0)
    record(path, "earlier-1", command, head, [Outcome(f"{smoke}test_passes[0]", "failed", 1.0),
                                              *(Outcome(f"{smoke}test_passes[{i}]", "passed", 1.0)
                                                for i in range(1, 4))], at=2.0)


def act_argv(act: str, tmp_path: Path, workflow: str, *extra: str) -> list[str]:
    """act in host mode, offline, with stand-ins for the third-party actions only."""
    stand_ins = FIXTURE / "stand-ins"
    return [act, "push", "-W", workflow, "-P", "ubuntu-latest=-self-hosted", "--action-offline-mode",
            "--action-cache-path", str(tmp_path / "act-cache"), "--no-cache-server",
            "--local-repository", f"{UPLOAD}={stand_ins / 'upload'}",
            "--local-repository", f"{DOWNLOAD}={stand_ins / 'download'}",
            "--local-repository", f"{CACHE}={stand_ins / 'cache'}",
            "--local-repository", f"{SETUP_PYTHON}={stand_ins / 'setup-python'}",
            "--env", f"ARTIFACTS={tmp_path / 'artifacts'}", "--env", f"CACHES={tmp_path / 'caches'}", *extra]


def this_repository(path: Path) -> None:
    """This checkout as act's job sees it: its tracked and new files, committed."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard", "-z"],
                            capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, path / name)
    git = ["git", "-C", str(path), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, timeout=60)
    subprocess.run([*git, "add", "-A"], check=True, timeout=60)
    subprocess.run([*git, "commit", "-q", "-m", "this checkout"], check=True, timeout=60)


def step_results(output: str, job: str) -> dict[str, str]:
    """{step name: Success/Failure} of one job, from act's `✅  Success - Main <step>` lines."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        match = re.match(rf"\[envctl/{re.escape(job)}\s*\]\s+(✅|❌)\s+(Success|Failure) - Main "
                         r"(.+?)( \[[^]]*\])?$", line)
        if match:
            found[match[3].strip()] = match[2]
    return found


def test_the_action_and_the_merge_job_under_act(tmp_path: Path) -> None:
    """Every step runs on a bare runner; the failing test is one annotation on the repository
    path; summaries are written, with what the restored history says (a new failure, a flaky
    test) and a link to the HTML report; both run directories are uploaded with their HTML
    report; `down` runs after the failure; the merge job merges both shards into one report (HTML
    too); durations and the history (with the merged run) are saved for the next run."""
    act = act_binary()
    project = f"{TEST_PROJECT_PREFIX}act"
    repo, artifacts, caches = tmp_path / "repo", tmp_path / "artifacts", tmp_path / "caches"
    user_repository(repo, project)
    artifacts.mkdir()
    (caches / "envctl-durations-main-0").mkdir(parents=True)  # what an earlier merge job saved
    (caches / "envctl-durations-main-0" / "durations.json").write_text(json.dumps(
        {"tests/test_smoke.py::test_fails": 9.0, **{f"tests/test_smoke.py::test_passes[{i}]": 1.0
                                                   for i in range(4)}}))
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()
    seed_history(caches / "envctl-history-main-0" / "history.jsonl", head)
    argv = act_argv(act, tmp_path, ".github/workflows/envctl.yml")
    try:
        proc = subprocess.run(argv, cwd=repo, capture_output=True, text=True, errors="replace", timeout=900,
                              check=False)
    finally:
        for index in ("1", "2"):
            subprocess.run(["docker", "compose", "-p", f"{project}-{index}", "down", "-v", "-t", "1"],
                           capture_output=True, timeout=60, check=False)
    output = proc.stdout + proc.stderr
    (tmp_path / "act.log").write_text(output)  # the whole runner output, kept with the test's files
    shards = {job: step_results(output, job) for job in ("tests-1", "tests-2")}
    for job, steps in shards.items():
        for step in STEPS:
            expected = {"Success", "Failure"} if step == "Wait for the tests" else {"Success"}
            assert steps.get(step) in expected, (job, step, output[-6000:])
    waits = sorted(steps["Wait for the tests"] for steps in shards.values())
    assert waits == ["Failure", "Success"], output[-6000:]
    assert not re.search(r'\|\s*\{"(event|level|timestamp)"', output)  # console log lines, not JSON
    annotations = [line for line in output.splitlines() if "::error " in line]
    assert len(annotations) == 1, annotations
    wanted = ("::error file=smoke/tests/test_smoke.py,line=10,"
              "title=failed%3A tests/test_smoke.py%3A%3Atest_fails::")
    assert wanted in annotations[0]
    assert "arithmetic is broken" in annotations[0]
    assert len(re.findall(r"⚙  Summary - ## envctl run \S+: (passed|failed)", output)) == 2, output[-6000:]
    assert "Artifact: `envctl-shard-1`" in output and "Artifact: `envctl-shard-2`" in output
    assert output.count("stand-in: restored envctl-durations-main-0") == 2
    assert output.count("stand-in: restored envctl-history-main-0") == 3  # both shards and the merge
    # Balanced on the restored durations: the 9 s test alone in one shard, the four others in the
    # other (pytest's deselected: the one -k left out and the other shard's four).
    assert "0 passed, 1 failed, 0 errors, 0 skipped, 5 deselected of 1 " in output, output[-6000:]
    for index in ("1", "2"):
        run = json.loads((artifacts / f"envctl-shard-{index}" / "run.json").read_text())
        assert run["state"] in ("passed", "failed")
        assert (artifacts / f"envctl-shard-{index}" / "junit.xml").is_file()
        assert not (artifacts / f"envctl-shard-{index}" / "start.json").exists()  # the arguments as given
        assert run["command"] == SMOKE_COMMAND  # what the seeded history's command key is of
        page = (artifacts / f"envctl-shard-{index}" / "report.html").read_text()
        assert page.startswith("<!DOCTYPE html>") and run["id"] in page
    # The action's outputs, as the next step of the job sees them.
    assert "action outputs: exit-code=1 state=failed passed=0 failed=1 errors=0 skipped=0" in output
    assert "action outputs: exit-code=0 state=passed passed=4 failed=0 errors=0 skipped=0" in output
    assert output.count("junit-path is a file") == 2, output[-6000:]
    assert output.count("| <!DOCTYPE html>") == 2, output[-6000:]  # report-path: the HTML report
    # What the restored history says, in the job summaries: shard 1's failure is new, shard 2's
    # first test flaky over the history; the merged report says both.
    new_line = "- `tests/test_smoke.py::test_fails` (failed, new): `"
    assert output.count(new_line) == 2, output[-6000:]  # shard 1's summary and the merged one
    assert output.count("### New failures (not failing in the last run of this command, `earlier-1`)") == 2
    assert output.count("### Flaky over the history (failed and passed at the same code)") == 2
    assert output.count("- `tests/test_smoke.py::test_passes[0]`") == 2
    for name in ("envctl-shard-1", "envctl-shard-2", "envctl-merged"):
        link = r"\(\[this workflow run's artifacts\]\(https://github\.com/octo/smoke/actions/runs/\d+#artifacts\)\)"
        assert re.search(rf"HTML report: `report.html` in the artifact `{name}` {link}", output), name
    # The merge mode: one exit code for the matrix (the step fails with the suite), its outputs,
    # the merged report uploaded and the durations saved for the next split.
    merge = step_results(output, "merge")
    assert merge.get("Merge the shards") == "Failure", output[-6000:]
    assert "merged outputs: exit-code=1 state=failed passed=4 failed=1" in output, output[-6000:]
    assert "⚙  Summary - ## envctl merged report: exit code 1" in output
    assert (artifacts / "envctl-merged" / "junit.xml").is_file()
    assert (artifacts / "envctl-merged" / "report.html").read_text().startswith("<!DOCTYPE html>")
    saved = list(caches.glob("envctl-durations-main-*-*/durations.json"))
    assert len(saved) == 1, saved
    assert len(json.loads(saved[0].read_text())) == 5
    # The history the next run restores: the merge job's, with the merged suite at this commit
    # (the shards' jobs saved none).
    from envctl.history import load  # noqa: PLC0415

    histories = list(caches.glob("envctl-history-main-*-*/history.jsonl"))
    assert len(histories) == 1, histories
    history = load(histories[0])
    assert [r.run_id for r in history.runs][:2] == ["earlier-0", "earlier-1"]
    assert len(history.runs) == 3 and history.runs[2].run_id.startswith("merge-")
    assert history.runs[2].code == head
    assert history.last_outcomes("tests/test_smoke.py::test_fails") == "p-f"


def test_the_dogfood_workflow_under_act(tmp_path: Path) -> None:
    """This project's own ci.yml: the dogfood job (the action on the bundled stack, two shards at
    once) and its merge job, which merges both shards and saves the durations."""
    act = act_binary()
    repo = tmp_path / "repo"
    repo.mkdir()
    this_repository(repo)
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "caches").mkdir()
    # The bundled images, built once for both shard projects (each would build its own).
    compose = ["docker", "compose", "-f", str(repo / "compose" / "compose.yaml")]
    subprocess.run([*compose, "-p", DOGFOOD[0], "build", "--quiet"], check=True, capture_output=True,
                   timeout=900)
    for service in BUNDLED_SERVICES:
        subprocess.run(["docker", "tag", f"{DOGFOOD[0]}-{service}", f"{DOGFOOD[1]}-{service}"], check=True,
                       capture_output=True, timeout=60)
    try:
        # `-j merge` runs the jobs it needs first (the dogfood matrix), as GitHub would.
        proc = subprocess.run(act_argv(act, tmp_path, ".github/workflows/ci.yml", "-j", "merge"),
                              cwd=repo, capture_output=True, text=True, errors="replace", timeout=900,
                              check=False)
    finally:
        for project in DOGFOOD:
            subprocess.run([*compose, "-p", project, "down", "-v", "-t", "1", "--rmi", "local"],
                           capture_output=True, timeout=120, check=False)
    output = proc.stdout + proc.stderr
    (tmp_path / "act.log").write_text(output)
    for job in ("dogfood-1", "dogfood-2"):
        steps = re.findall(rf"\[ci/{job}\s*\]\s+✅\s+Success - Main (.+?)(?: \[[^]]*\])?$", output,
                           re.MULTILINE)
        for step in STEPS:
            assert step in steps, (job, step, output[-6000:])
    assert not re.search(r"\[ci/dogfood-\d\s*\]\s+❌", output), output[-6000:]
    for index in ("1", "2"):
        run = json.loads((tmp_path / "artifacts" / f"envctl-shard-{index}" / "run.json").read_text())
        assert run["state"] == "passed", run
    merged_ok = re.search(r"\[ci/merge\s*\]\s+✅\s+Success - Main Merge the shards", output)
    assert merged_ok, output[-6000:]
    summary = re.search(r"⚙  Summary - ## envctl merged report: exit code (\d+)", output)
    assert summary is not None and summary[1] == "0", output[-6000:]
    saved = list((tmp_path / "caches").glob("envctl-durations-main-*/durations.json"))
    assert len(saved) == 1
    assert len(json.loads(saved[0].read_text())) > 300
