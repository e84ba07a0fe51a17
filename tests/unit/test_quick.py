"""A plain `envctl status` or `envctl test` is parsed by hand and answered without Typer or Click;
every other form is left to the full command line."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envctl.ui.quick import GLOBAL_VALUE_OPTIONS, command_named, quick_call, quick_status, quick_test
from tests.unit.run_dirs import RUN_ID, make_run


@pytest.mark.parametrize("args", [["status"], ["status", RUN_ID], ["status", "--json"],
                                  ["status", "latest", "--lines", "3"], ["status", "--lines=0", "--json"]])
def test_the_plain_forms_are_answered_here(args: list[str]) -> None:
    """status [RUN] [--json] [--lines N]: a call."""
    assert callable(quick_status(args))


@pytest.mark.parametrize("args", [[], ["runs"], ["-C", "x", "status"], ["status", "-w"],
                                  ["status", "--watch"], ["status", "--help"], ["status", "a", "b"],
                                  ["status", "--lines", "x"], ["status", "--lines"], ["status", "--jsno"],
                                  ["status", "--lines", "-1"]])
def test_every_other_form_goes_to_the_command_line(args: list[str]) -> None:
    """Global options, --watch, --help, two runs, a bad number, a typo: None (the CLI answers)."""
    assert quick_status(args) is None


def test_a_plain_status_never_loads_the_command_line_framework(tmp_path: Path) -> None:
    """The answer is the run's status (envctl/status/1), and neither typer nor click is imported."""
    make_run(tmp_path)
    script = ("import sys\nfrom envctl.ui.quick import quick_status\nquick_status(['status', '--json'])()\n"
              "print(json.dumps(['typer' in sys.modules, 'click' in sys.modules]))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVCTL_")} | {
        "ENVCTL_LOG_DIR": str(tmp_path / "runs"), "DOCKER_HOST": "unix:///nonexistent/envctl-unit.sock"}
    done = subprocess.run([sys.executable, "-c", "import json\n" + script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    answer, loaded = done.stdout.rsplit("\n", 2)[0], done.stdout.rsplit("\n", 2)[1]
    assert json.loads(answer)["run"] == RUN_ID
    assert json.loads(loaded) == [False, False]


@pytest.mark.parametrize(("args", "name"), [
    (["test", "--", "-x"], "test"), (["-C", "test", "status"], "status"),
    (["--project-dir", "up", "down"], "down"),
    (["--project-dir=up", "down"], "down"), (["-vC", "logs", "wait"], "wait"), (["-Cdir", "ps"], "ps"),
    (["-v", "-q", "--log-format", "json", "--context", "e2", "gc"], "gc"), (["--help", "test"], None),
    (["-h"], None), ([], None), (["-v"], None), (["--", "test"], None), (["tset"], "tset"),
    (["-C/srv/appC", "up", "test"], "up"), (["-vCq", "down"], "down"), (["-vh", "test"], None),
    (["-qv", "ps"], "ps"), (["--context=e2", "env"], "env"), (["-", "logs"], "-")])
def test_the_command_named_is_the_first_word_past_the_global_options(
        args: list[str], name: str | None) -> None:
    """A global option's value is never the command; help asked first, or no word: None."""
    assert command_named(args) == name


def test_the_global_options_that_take_a_value_are_the_clis() -> None:
    """GLOBAL_VALUE_OPTIONS names exactly the root callback's options that take a value."""
    from typer.main import get_command  # noqa: PLC0415

    from envctl.cli import app  # noqa: PLC0415

    root = get_command(app)
    taking = {opt for param in root.params if not getattr(param, "is_flag", False)
              and not getattr(param, "count", False) for opt in param.opts}
    assert taking == GLOBAL_VALUE_OPTIONS


@pytest.mark.parametrize("name", ["test", "env", "status", "gc"])
def test_only_the_command_named_is_built(name: str) -> None:
    """The app given to click has that one command (the root's options kept); any other name,
    or none, leaves the whole app."""
    from typer.main import get_command  # noqa: PLC0415

    from envctl.boundary import only_the_command  # noqa: PLC0415
    from envctl.cli import app  # noqa: PLC0415

    narrowed = get_command(only_the_command(app, name))
    assert list(getattr(narrowed, "commands", {})) == [name]
    assert [p.name for p in narrowed.params] == [p.name for p in get_command(app).params]
    assert only_the_command(app, "nope") is app
    assert only_the_command(app, None) is app
    assert len(app.registered_commands) == 17  # the app itself is left whole


PLAIN_TESTS = [["test"], ["test", "--"], ["test", "--", "-x", "-k", "a and not b"], ["test", "-d", "--json"],
               ["test", "--detach", "--no-up", "--", "--help"], ["test", "--json", "--", "--", "tests/"],
               ["test", "-d", "-d", "--", "-n", "2"]]


@pytest.mark.parametrize("args", PLAIN_TESTS)
def test_a_plain_test_calls_what_the_command_line_calls(args: list[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """test [--detach|-d] [--json] [--no-up] [-- PYTEST_ARGS]: the quick path hands the command's
    work exactly the arguments the full command line hands it, after the same engine context."""
    from envctl import cli  # noqa: PLC0415
    from envctl.ui import testing  # noqa: PLC0415
    from envctl.verbs import engine  # noqa: PLC0415

    contexts: list[str | None] = []
    monkeypatch.setenv("DOCKER_CONTEXT", "ctx-of-the-shell")
    monkeypatch.setattr(engine, "use_context", contexts.append)

    real = testing.test_command
    calls: list[dict[str, Any]] = []

    def record(*positional: Any, **named: Any) -> int:
        bound = inspect.signature(real).bind(*positional, **named)
        bound.apply_defaults()
        calls.append(dict(bound.arguments))
        return 0

    monkeypatch.setattr(testing, "test_command", record)
    call = quick_call(args)
    assert call is not None
    assert call() == 0
    assert cli.main(args) == 0
    quick, full = calls
    assert quick == full
    assert contexts == ["ctx-of-the-shell", "ctx-of-the-shell"]


def test_a_plain_test_with_a_usage_error_exits_as_the_command_line_does(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`test --json` without --detach: the same usage error (exit 10) and message on both paths,
    and no run started."""
    from envctl import cli  # noqa: PLC0415
    from envctl.boundary import guarded  # noqa: PLC0415
    from envctl.ui import testing  # noqa: PLC0415
    from envctl.verbs import engine  # noqa: PLC0415

    started: list[object] = []

    def run_tests(*args: object) -> int:
        started.append(args)
        return 0

    monkeypatch.setattr(testing, "run_tests", run_tests)
    monkeypatch.setattr(engine, "use_context", lambda _context: None)
    call = quick_call(["test", "--json"])
    assert call is not None
    assert guarded(call) == 10
    quick_err = capsys.readouterr().err
    assert cli.main(["test", "--json"]) == 10
    assert capsys.readouterr().err == quick_err
    assert "--detach" in quick_err
    assert started == []


@pytest.mark.parametrize("args", [["test", "-x"], ["test", "tests/a.py"], ["test", "--shards", "2"],
                                  ["test", "--help"], ["test", "-dh"], ["-C", "x", "test"],
                                  ["test", "--timeout=5m", "--"], ["test", "--detach", "-k", "a"],
                                  ["test", "--detahc"], ["tests"]])
def test_every_other_test_goes_to_the_command_line(args: list[str]) -> None:
    """Another option, a word before `--`, --help, a global option, a typo: None (the CLI answers)."""
    assert quick_test(args) is None
    assert quick_call(args) is None


def test_a_plain_test_never_loads_the_command_line_framework() -> None:
    """What the quick path imports to start a run (the command's work, the settings, the engine's
    context) brings neither typer nor click."""
    script = ("import sys\nfrom envctl.ui.quick import quick_test\nassert quick_test(['test', '--', '-x'])\n"
              "import envctl.ui.testing, envctl.verbs.engine, envctl.ui.cli_state, envctl.settings\n"
              "print(json.dumps(['typer' in sys.modules, 'click' in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", "import json\n" + script], capture_output=True, text=True,
                          timeout=60, check=True)
    assert json.loads(done.stdout) == [False, False]
