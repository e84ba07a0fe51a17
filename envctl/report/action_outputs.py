"""The GitHub Action's step outputs from a report's JSON (a run's or a merge's).

Run by action.yml as ``python -m envctl.report.action_outputs REPORT_JSON JUNIT REPORT``; prints
``key=value`` lines for ``$GITHUB_OUTPUT``. Every value is a number, a state name or a path the
action chose: nothing from the test container can start another output line.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from envctl.files import read_regular

REPORT_CAP = 64 << 20  # a report's JSON: failures are capped, so far below this
_STATE = re.compile(r"[a-z][a-z-]{0,30}", re.ASCII)
_MERGED_STATES = {0: "passed", 1: "failed", 5: "no-tests"}  # pytest's codes; anything else: error
COUNTS = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")  # pytest's own categories


def outputs(report: dict[str, Any], junit: Path, rendered: Path) -> dict[str, str]:
    """The outputs for a run's report (``envctl/report/1``) or a merge's (``envctl/merged/1``)."""
    code = report.get("exit_code")
    exit_code = code if isinstance(code, int) and not isinstance(code, bool) and 0 <= code <= 255 else None
    state = report.get("state")
    if report.get("schema") == "envctl/merged/1":
        state = _MERGED_STATES.get(exit_code, "error") if exit_code is not None else None
    counts: Any = report.get("counts")
    counts = counts if isinstance(counts, dict) else {}
    found = {
        "exit-code": "" if exit_code is None else str(exit_code),
        "state": state if isinstance(state, str) and _STATE.fullmatch(state) else "",
        **{name: _count(counts.get(name)) for name in COUNTS},
        "junit-path": str(junit) if junit.is_file() else "",
        "report-path": str(rendered) if rendered.is_file() and rendered.stat().st_size else "",
    }
    return {key: value.replace("\n", " ") for key, value in found.items()}


def _count(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else "0"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: python -m envctl.report.action_outputs REPORT_JSON JUNIT REPORT\n")
        return 2
    try:
        report: Any = json.loads(read_regular(Path(argv[0]), REPORT_CAP))
    except (OSError, ValueError):
        report = {}  # no report (the run never started): outputs stay empty, the step still succeeds
    values = outputs(report if isinstance(report, dict) else {}, Path(argv[1]), Path(argv[2]))
    sys.stdout.write("".join(f"{key}={value}\n" for key, value in values.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
