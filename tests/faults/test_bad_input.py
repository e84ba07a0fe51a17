"""Bad input at every door: run ids, a parent record naming hostile shards, a "JUnit" file that is
not one, pytest arguments full of shell syntax, and settings no one should take. Each gets its
documented exit code and one clear line; nothing outside the run directory is read or removed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.faults.conftest import Project, answer_of, start_detached, write_suite

pytestmark = [pytest.mark.docker, pytest.mark.faults]

BAD_IDS = ["../x", "/abs", "a/b", "", "a" * 300, "-rf", "\u0663\u0663", "20260101-000000-abcd/../..",
           "latest\n",
           # 20261124-004120-8aeb in Arabic-Indic digits: `\d` takes them, a run id must not
           "\u0662\u0660\u0662\u0666\u0661\u0661\u0662\u0664-\u0660\u0660\u0664\u0661\u0662\u0660-8aeb"]


@pytest.mark.parametrize("run_id", BAD_IDS)
def test_a_bad_run_id_is_a_usage_error(make_project: object, run_id: str) -> None:
    """status, wait, logs, failures, report and stop each refuse it: exit 10, one error line."""
    project: Project = make_project("runs")  # type: ignore[operator]
    victim = project.path / "x"
    victim.write_text("keep me")
    for command in ("status", "wait", "logs", "failures", "report", "stop"):
        result = project.envctl(command, "--", run_id)
        assert result.returncode == 10, (command, result.output)
        errors = [line for line in result.stderr.splitlines() if line.startswith("envctl: error:")]
        assert len(errors) == 1 and "Traceback" not in result.output, (command, result.stderr)
        assert len(errors[0]) < 200
    assert victim.read_text() == "keep me"


def test_a_parent_naming_hostile_shards_is_damaged_not_followed(make_project: object) -> None:
    """A --shards parent whose record lists `../../etc`, an absolute path and a link: every
    reader says the record is damaged (exit 19) and reads or removes nothing it names."""
    project: Project = make_project("runs")  # type: ignore[operator]
    runs = Path(project.env["ENVCTL_LOG_DIR"])
    parent = runs / "20260101-000000-aaaa"
    parent.mkdir(parents=True, mode=0o700)
    outside = project.path / "outside"
    outside.mkdir()
    (outside / "run.json").write_text("{}")
    for children in (["../../etc"], [str(outside)], ["20260101-000000-bbbb/.."]):
        (parent / "run.json").write_text(json.dumps({
            "id": parent.name, "project": project.name, "service": "test", "command": ["pytest"],
            "limits": {"memory": 1, "cpus": 1.0, "pids": 1}, "state": "passed", "children": children}))
        for command in ("status", "wait", "logs", "report", "failures", "stop"):
            result = project.envctl(command, parent.name)
            assert result.returncode == 19, (children, command, result.output)
            assert "damaged" in result.stderr
        assert project.envctl("gc").returncode == 0
        assert (outside / "run.json").exists()
    shutil.rmtree(parent)


@pytest.mark.parametrize("text", ["<html><body>a page</body></html>", "failed: test_a\n", ""])
def test_rerun_failed_on_a_file_that_is_not_junit_is_an_error(make_project: object, tmp_path: Path,
                                                              text: str) -> None:
    """Not "nothing failed" and exit 0: exit 10, saying the file is not a JUnit report."""
    project: Project = make_project("runs")  # type: ignore[operator]
    report = tmp_path / "report.xml"
    report.write_text(text)
    result = project.envctl("test", "--rerun-failed", str(report))
    assert result.returncode == 10, result.output
    assert "not a JUnit XML report" in result.stderr
    assert "nothing to rerun" not in result.output


ARGV_SUITE = """
import json, sys

def test_argv(request):
    print("ARGV=" + json.dumps(request.config.invocation_params.args))
"""
HOSTILE_ARGS = ["-s", "-k", "argv", "-o", "markers=smoke: $(touch /tmp/pwned); rm -rf / `id` |& >x",
                "-o", "junit_suite_name=it's \"quoted\"\nand two lines", "--tb", "short",
                "-p", "no:randomly", "--", "test_argv.py"]


def test_pytest_arguments_reach_pytest_unchanged(runs_project: Project) -> None:
    """`$(...)`, `;`, quotes, newlines and `--`: pytest gets exactly the arguments given."""
    write_suite(runs_project, {"test_argv.py": ARGV_SUITE})
    run_id = start_detached(runs_project, "--", *HOSTILE_ARGS)
    view = answer_of(runs_project, run_id)
    assert (view["exit"], view["state"]) == (0, "passed"), view
    log = (Path(runs_project.env["ENVCTL_LOG_DIR"]) / run_id / "output.log").read_text()
    got = json.loads(log.split("ARGV=", 1)[1].splitlines()[0])
    assert got[-len(HOSTILE_ARGS):] == HOSTILE_ARGS
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize(("where", "text"), [
    ("env", {"ENVCTL_CPUS": "nan"}), ("env", {"ENVCTL_CPUS": "inf"}),
    ("env", {"ENVCTL_MEMORY": "9" * 400}), ("env", {"ENVCTL_PIDS": "9" * 400}),
    ("env", {"ENVCTL_HEALTH_TIMEOUT": "inf"}), ("env", {"ENVCTL_PIDS": "1.5"}),
    ("toml", "cpus = nan\n"), ("toml", "cpus = inf\n"), ("toml", "memory = [1]\n"),
    ("toml", "pids = " + "9" * 400 + "\n"), ("toml", "keep_runs = true\n"),
    ("toml", b"cpus = 1\n\xff\xfe = 2\n"),
])
def test_a_bad_setting_is_exit_11_in_one_line(make_project: object, where: str, text: object) -> None:
    """Wrong types, nan, inf, 400 digits, non-UTF-8: `config --json` and `test` exit 11 with one
    error line, never a crash (70) nor `Infinity` printed as JSON."""
    project: Project = make_project("runs")  # type: ignore[operator]
    extra: dict[str, str] = {}
    if where == "env":
        assert isinstance(text, dict)
        extra = text
    else:
        data = text if isinstance(text, bytes) else str(text).encode()
        (project.path / "envctl.toml").write_bytes(data)
    for args in (("config", "--json"), ("test", "--detach")):
        result = project.envctl(*args, extra_env=extra)
        assert result.returncode == 11, (args, result.output)
        assert result.stdout == ""
        errors = [line for line in result.stderr.splitlines() if line.startswith("envctl: error:")]
        assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
