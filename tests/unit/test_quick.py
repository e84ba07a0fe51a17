"""A plain `envctl status` is parsed by hand and answered without Typer or Click; every other
form is left to the full command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envctl.ui.quick import quick_status
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
