"""What the process's surroundings say about where output goes: a terminal, a CI job, GitHub
Actions and its job summary. Read at call time (tests and callers change os.environ)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def on_ci() -> bool:
    """CI=true (or 1, yes): most CI systems set it."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def step_summary() -> Path | None:
    """The GitHub Actions job summary file, if there is one."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    return Path(summary) if summary else None


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
