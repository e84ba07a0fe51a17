"""Every `--json` answer of the CLI, from a real run on the real engine, against its schema in
envctl/schemas/ (and the commands an agent polls with)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from envctl.errors import ExitCode
from envctl.schemas import load
from tests.integration.conftest import Project, write_suite

SUITE = {
    "test_json.py": (
        "import time\n"
        "def test_ok():\n    time.sleep(3)\n"
        "def test_bad():\n    assert 'a' == 'b', 'letters differ'\n"
    ),
}


def answer(project: Project, schema: str, *args: str, code: int = 0) -> dict[str, Any]:
    result = project.envctl(*args)
    assert result.returncode == code, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    jsonschema.Draft202012Validator(load(schema)).validate(data)
    assert data["schema"] == f"envctl/{schema}/1"
    return data


def test_every_json_answer_matches_its_schema(runs_project: Project) -> None:
    """test --detach, wait (bounded and to the end), status, failures, logs, runs, report, stop,
    ps, doctor, config and report merge: each prints what its schema says."""
    write_suite(runs_project, SUITE)
    started = answer(runs_project, "started", "test", "--detach", "--json")
    run_id = started["run"]
    assert started["commands"]["wait"] == f"envctl wait {run_id} --timeout 100s"
    polled = answer(runs_project, "wait", "wait", run_id, "--timeout", "1s", "--json",
                    code=ExitCode.WAIT_TIMEOUT)
    assert (polled["ended"], polled["next"]) == (False, f"envctl wait {run_id} --timeout 100s")
    line = runs_project.envctl("wait", run_id, "--timeout", "0.5s")
    assert line.returncode == ExitCode.WAIT_TIMEOUT, line.output
    assert line.stderr.count("\n") == 1
    assert line.stderr.startswith(f"envctl: run {run_id} ")
    answer(runs_project, "status", "status", run_id, "--json")
    text = runs_project.envctl("test", "--detach", "--", "-k", "test_bad")  # the commands to follow it
    assert text.returncode == 0, text.output
    second = text.stdout.strip()
    assert f"wait:      envctl wait {second} --timeout 100s  (exits 25 while it goes on)" in text.stderr
    assert f"failures:  envctl failures {second}" in text.stderr
    ended = answer(runs_project, "wait", "wait", run_id, "--json", code=1)
    assert (ended["ended"], ended["state"], ended["exit_code"]) == (True, "failed", 1)

    failures = answer(runs_project, "failures", "failures", run_id, "--json")
    assert [(f["test"], f["line"]) for f in failures["failures"]] == [("test_json.py::test_bad", 5)]
    assert failures["failures"][0]["message"].startswith("AssertionError: letters differ")
    text = runs_project.envctl("failures", run_id)
    assert text.stdout.splitlines()[:2] == [f"run {run_id} (failed): 1 failed or errored test(s)",
                                            "FAILED test_json.py::test_bad  (test_json.py:5)"]
    tail = answer(runs_project, "logs", "logs", run_id, "--json", "--tail", "1")
    assert "\n" not in tail["text"]
    assert "1 failed, 1 passed in " in tail["text"]
    whole = answer(runs_project, "logs", "logs", run_id, "--json", "--offset", "0")
    assert (whole["complete"], whole["start"], whole["end"]) == (True, 0, whole["size"])
    assert runs_project.envctl("wait", second).returncode == 1
    assert [r["run"] for r in answer(runs_project, "runs", "runs", "--json")["runs"]] == [run_id, second]
    report = answer(runs_project, "report", "report", run_id, "--json")
    assert report == answer(runs_project, "report", "report", run_id, "--format", "json")
    assert report["counts"]["failed"] == 1
    assert answer(runs_project, "run", "stop", run_id, "--json")["state"] == "failed"
    services = answer(runs_project, "services", "ps", "--json")
    assert {s["service"] for s in services["services"]} == {"sidecar"}
    answer(runs_project, "doctor", "doctor", "--json")
    assert answer(runs_project, "config", "config", "--json")["settings"]["test_service"]["value"] == "test"
    run_dir = runs_project.path.parent / "runs" / run_id
    merged = answer(runs_project, "merged", "report", "merge", str(run_dir), "--json", code=1)
    assert merged["counts"] == {"total": 2, "done": 2, "passed": 1, "failed": 1, "errors": 0,
                                "skipped": 0, "xfailed": 0, "xpassed": 0}
