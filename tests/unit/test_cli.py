"""The command line on its own: options in, one verb called, its answer printed, the exit code
out. Verbs that would reach an engine are faked; runs live in a tmp dir."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

import envctl.doctor
import envctl.env.environment
import envctl.init
from envctl import cli
from envctl.cli import app, main
from envctl.doctor import Check, CheckStatus
from envctl.errors import WaitTimeoutError
from envctl.init import Report, Written
from envctl.runs import control
from envctl.runs.run import Run
from envctl.runs.state import RunRecord
from envctl.verbs import engine
from tests.unit.run_dirs import OTHER_ID, RUN_ID, make_run
from tests.unit.test_verbs_misc import FakeEnvironment


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory, the working directory, its runs under runs/."""
    monkeypatch.setenv("ENVCTL_LOG_DIR", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    for name in ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_report_json_and_another_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """`report --json --format csv` asks for two formats: exit 10, saying so."""
    assert main(["report", "--json", "--format", "csv"]) == 10
    assert "--json and --format csv ask for two formats" in capsys.readouterr().err


def test_an_unknown_report_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """`report --format yaml`: exit 10, naming the formats there are."""
    assert main(["report", "--format", "yaml"]) == 10
    assert "expected one of md, json, csv, junit" in capsys.readouterr().err


def test_help_imports_no_engine_and_no_logging() -> None:
    """`envctl --help` stays fast: neither docker, python_on_whales nor structlog is imported."""
    code = ("import sys\nfrom envctl.cli import main\nmain(['--help'])\n"
            "heavy = ('docker', 'python_on_whales', 'structlog', 'rich')\n"
            "print(sorted(m for m in heavy if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]"


def test_version_and_help_with_the_cli_runner() -> None:
    """--version prints the version; no command prints the help."""
    from envctl import __version__  # noqa: PLC0415

    runner = CliRunner()
    assert runner.invoke(app, ["--version"]).output == f"envctl {__version__}\n"
    assert "Usage" in runner.invoke(app, []).output


def test_a_click_usage_error_is_envctls_usage_code(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown option exits 10 (click's 2 is pytest's)."""
    assert main(["status", "--no-such-option"]) == 10
    assert "No such option" in capsys.readouterr().err


def test_pytest_options_before_the_dashes_get_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    """`envctl test -k foo` says where pytest's options go; another command's unknown option does not."""
    assert main(["test", "-k", "foo"]) == 10
    assert "envctl: hint: pytest's own options go after `--`, e.g. `envctl test -- -k foo`" in (
        capsys.readouterr().err)
    assert main(["status", "-k"]) == 10
    assert "hint" not in capsys.readouterr().err


def test_bare_envctl_prints_the_help_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    """No command at all is a question: the help, exit 0."""
    assert main([]) == 0
    assert capsys.readouterr().out.startswith("Usage: envctl [OPTIONS] COMMAND [ARGS]...")


def test_every_option_has_a_typed_metavar() -> None:
    """Walk each command's --help: no option value is shown as a bare type (<str>, TEXT...)."""
    runner = CliRunner()
    commands = ["", *(command.name for command in app.registered_commands)]
    for name in commands:
        result = runner.invoke(app, [*([name] if name else []), "--help"], prog_name="envctl")
        assert result.exit_code == 0, (name, result.output)
        bare = re.findall(r"<(?:str|path|int|float)>|\b(?:TEXT|INTEGER|FLOAT|PATH)\b", result.output)
        assert bare == [], (name, result.output)


def test_bad_flag_values_are_refused_before_anything_runs(project: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`gc --older-than yesterday` removes nothing first; `wait --timeout 5x` looks no run up."""
    assert main(["gc", "--older-than", "yesterday"]) == 10
    err = capsys.readouterr().err
    assert "removed" not in err and "'yesterday' is not a duration" in err
    assert main(["wait", "--timeout", "5x", "20990101-000000-ffff"]) == 10
    assert "'5x' is not a duration" in capsys.readouterr().err
    assert main(["-C", str(project / "missing"), "config"]) == 10
    assert "no such project directory" in capsys.readouterr().err


def test_limits_defaults_in_the_help_are_the_settings_defaults() -> None:
    """`envctl test --help` names each limit's default as the settings model has it."""
    from envctl.settings import FIELDS_BY_NAME  # noqa: PLC0415
    from envctl.units import format_size  # noqa: PLC0415

    text = " ".join(CliRunner().invoke(app, ["test", "--help"], prog_name="envctl").output.split())
    memory = FIELDS_BY_NAME["memory"].default
    assert isinstance(memory, int)
    assert f"default: memory, {format_size(memory).lower()}" in text.lower()
    assert f"default: cpus, {FIELDS_BY_NAME['cpus'].default:g}" in text
    assert f"default: pids, {FIELDS_BY_NAME['pids'].default}" in text


def test_a_context_is_handed_to_the_verb(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--context (or DOCKER_CONTEXT) is passed to the engine verb, once per command."""
    used: list[str | None] = []
    monkeypatch.setattr(engine, "use_context", used.append)
    main(["--context", "remote", "runs"])
    monkeypatch.setenv("DOCKER_CONTEXT", "other")
    main(["runs"])
    assert used == ["remote", "other"]


def test_status_runs_and_failures(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The read commands print a run's status, the history and its failures, as text or JSON."""
    make_run(project, RUN_ID, exit_code=0, log=b"hello\n")
    make_run(project, OTHER_ID, exit_code=1)
    assert main(["status", RUN_ID, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["last_lines"] == ["hello"]
    assert main(["status"]) == 0
    assert OTHER_ID in capsys.readouterr().out
    assert main(["runs", "--json"]) == 0
    assert [r["run"] for r in json.loads(capsys.readouterr().out)["runs"]] == [RUN_ID, OTHER_ID]
    assert main(["runs"]) == 0
    assert RUN_ID in capsys.readouterr().out
    assert main(["failures", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 0
    assert main(["failures", RUN_ID]) == 0
    assert capsys.readouterr().out == f"run {RUN_ID} (passed): no failed tests\n"


def test_logs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """logs prints the log, its tail, or a JSON piece; --offset without --json is refused."""
    make_run(project, exit_code=0, log=b"a\nb\nc\n")
    assert main(["logs"]) == 0
    assert capsys.readouterr().out == "a\nb\nc\n"
    assert main(["logs", "--tail", "1"]) == 0
    assert capsys.readouterr().out == "c\n"
    assert main(["logs", "--json", "--offset", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "b\nc\n"
    assert main(["logs", "--offset", "2"]) == 10
    assert "add --json" in capsys.readouterr().err
    assert main(["logs", "--json", "--follow"]) == 10
    assert "does not combine with --follow" in capsys.readouterr().err


def test_wait(project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An ended run: its code; a deadline: exit 25; a bad --timeout: exit 10."""
    make_run(project, exit_code=1)
    assert main(["wait"]) == 1
    assert capsys.readouterr().err.startswith(f"envctl: run {RUN_ID} failed in")

    def deadline(_run_dir: Path, **_kwargs: Any) -> RunRecord:
        raise WaitTimeoutError("deadline")

    monkeypatch.setattr(control, "wait_for", deadline)
    assert main(["wait", "--timeout", "1s", "--json"]) == 25
    assert json.loads(capsys.readouterr().out)["schema"] == "envctl/wait/1"
    assert main(["wait", "--timeout", "soon"]) == 10


def test_wait_in_ci_mode(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CI=true: the CI wait, handed the heartbeat and GitHub's surroundings."""
    import envctl.ui.ci  # noqa: PLC0415

    make_run(project)
    asked: list[Any] = []
    def ci_wait(run_dir: Path, **kwargs: Any) -> int:
        asked.append((run_dir, kwargs))
        return 4

    monkeypatch.setattr(envctl.ui.ci, "ci_wait", ci_wait)
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(project / "summary.md"))
    assert main(["wait"]) == 4
    run_dir, options = asked[0]
    assert (run_dir, options["github_actions"], options["summary_path"]) == (
        project / "runs" / RUN_ID, True, project / "summary.md")


def test_stop(project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """stop prints where the run is: ended, or stopping."""
    make_run(project)
    monkeypatch.setattr(Run, "stop", lambda run: run.record)
    assert main(["stop", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["state"] == "running"
    assert err.startswith(f"envctl: run {RUN_ID}: stop requested; it is still running")
    make_run(project, OTHER_ID, exit_code=0)
    assert main(["stop", OTHER_ID]) == 0
    assert capsys.readouterr().err == f"envctl: run {OTHER_ID}: passed\n"


def test_report(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """report prints a run's results; inputs without merge are refused."""
    make_run(project, exit_code=0)
    assert main(["report", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run"] == RUN_ID
    assert main(["report", RUN_ID, "x"]) == 10


def test_report_merge(project: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    """report merge prints the merged report and exits with the merged code."""
    from envctl.verbs import report  # noqa: PLC0415

    monkeypatch.setattr(report, "merge",
                        lambda _s, options, fmt: report.Merged(f"{options.inputs} {fmt}\n", 1))
    assert main(["report", "merge", "a", "b", "--format", "csv"]) == 1
    assert capsys.readouterr().out == "(PosixPath('a'), PosixPath('b')) csv\n"


def test_gc(project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """gc says what it removed: runs, and with --older-than, stale projects."""
    from envctl.verbs import gc  # noqa: PLC0415

    monkeypatch.setattr(gc, "remove_projects", lambda _s, age: {"p-iso-1": f"{age:.0f}s"})
    assert main(["gc", "--older-than", "1m"]) == 0
    assert capsys.readouterr().err == ("envctl: removed 0 run(s)\n"
                                       "envctl: removed isolated project p-iso-1: 60s\n")


def test_doctor_config_init(project: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    """doctor exits 16 on a failed check; config prints its JSON; init says what it wrote."""
    monkeypatch.setattr(envctl.doctor, "run_checks", lambda _s: [Check("engine", CheckStatus.FAIL, "down")])
    assert main(["doctor", "--json"]) == 16
    assert json.loads(capsys.readouterr().out)["ok"] is False
    assert main(["doctor"]) == 16
    assert "engine" in capsys.readouterr().out
    assert main(["config", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == "envctl/config/1"
    assert main(["config"]) == 0
    assert "log_dir" in capsys.readouterr().out
    monkeypatch.setattr(envctl.init, "init", lambda d, **_kw: Report(
        d, ["compose.yaml"], "p", "test", None, False, [], {}, [], False,
        [Written(d / "envctl.toml", True), Written(d / "w.yml", False, "it exists")]))
    assert main(["init", "--workflow", "--action", "acme/envctl@v1"]) == 0
    out = capsys.readouterr().out
    assert "wrote         envctl.toml\n" in out and "kept          w.yml (it exists)\n" in out


def test_up_down_ps(project: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    """up prints what is ready (and an isolated project's name); down and ps reach the verbs."""
    monkeypatch.setattr(envctl.env.environment, "Environment", FakeEnvironment)
    monkeypatch.setattr(cli, "resolve_settings", lambda **_flags: SimpleNamespace(engines=()))
    rows: list[Any] = []
    monkeypatch.setattr(FakeEnvironment, "ps", lambda self: rows)
    FakeEnvironment.asked = []
    assert main(["up", "db", "--isolated", "--no-build"]) == 0
    out, err = capsys.readouterr()
    assert (out, err.splitlines()[0]) == ("p-iso-1\n", "envctl: ready: db (ready), init (completed)")
    assert main(["down", "-v"]) == 0
    assert main(["ps", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"schema": "envctl/services/1", "project": "p",
                                                   "services": []}
    assert FakeEnvironment.asked == ["up ['db'] False False", "down True"]


def test_test_hands_its_options_to_the_terminal_face(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`test` builds its options, checks them first, and returns the run's code."""
    import envctl.ui.testing  # noqa: PLC0415

    seen: list[Any] = []
    def run_tests(settings: Any, options: Any) -> int:
        seen.append((settings.memory, options))
        return 5

    monkeypatch.setattr(envctl.ui.testing, "run_tests", run_tests)
    assert main(["test", "--memory", "1g", "--shard", "1/2", "--", "-k", "x"]) == 5
    assert seen[0][0] == 1 << 30
    assert (seen[0][1].pytest_args, seen[0][1].shard) == (("-k", "x"), "1/2")
    assert main(["test", "--json"]) == 10
    assert "it goes with --detach" in capsys.readouterr().err


def test_mcp_serves_the_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`envctl -C DIR mcp` serves DIR's tools."""
    import envctl.signals  # noqa: PLC0415
    import envctl.ui.mcp_server  # noqa: PLC0415

    served: list[Path | None] = []
    monkeypatch.setattr(envctl.signals, "by_default", lambda: None)
    monkeypatch.setattr(envctl.ui.mcp_server, "serve", served.append)
    assert main(["-C", str(project), "mcp"]) == 0
    assert served == [project]


def test_report_as_html_for_a_run_and_a_merge(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`report --format html` prints one self-contained page; `report merge --format html` too."""
    run_dir = make_run(project, RUN_ID, exit_code=1)
    (run_dir / "junit.xml").write_text(
        '<testsuites><testsuite><testcase classname="tests.test_a" name="test_bad" file="tests/test_a.py">'
        '<failure message="&lt;script&gt;x&lt;/script&gt;">tb</failure></testcase></testsuite></testsuites>')
    assert main(["report", RUN_ID, "--format", "html"]) == 0
    page = capsys.readouterr().out
    assert page.lower().startswith("<!doctype html>")
    assert "tests/test_a.py::test_bad" in page and "<script>x</script>" not in page
    assert main(["report", "merge", str(run_dir / "junit.xml"), "--format", "html",
                 "--durations-out", str(project / "d.json")]) == 1
    assert "tests/test_a.py::test_bad" in capsys.readouterr().out
