"""The GitHub workflow ``init --workflow`` writes, and the action reference it uses."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from envctl.errors import UsageError


def workflow_text(test_service: str, action: str) -> str:
    return f"""name: tests

on:
  push:
    branches: [main]
  pull_request:

permissions:
  contents: read

jobs:
  tests:
    runs-on: ubuntu-latest
    timeout-minutes: 60
    steps:
      - uses: actions/checkout@v4
        with:
          persist-credentials: false
      # Brings the compose environment up, runs pytest in the `{test_service}` service with
      # limits, annotates failures, writes a job summary and always tears down.
      - uses: {action}
"""


_ACTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+@[A-Za-z0-9_./-]+")
_REMOTE = re.compile(r"(?:github\.com[:/])([A-Za-z0-9][A-Za-z0-9_.-]*)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")


def repo_of_remote(url: str) -> str | None:
    """`acme/envctl` from a GitHub remote URL (https, ssh or scp-like), else None."""
    match = _REMOTE.search(url.strip())
    return f"{match[1]}/{match[2]}" if match else None


def action_ref(given: str | None, checkout: Path | None = None, version: str | None = None) -> str:
    """The action to use: ``--action`` as given, else this envctl checkout's `origin` and
    `v<major>` of its version; a UsageError naming --action when neither is there."""
    if given is not None:
        if not _ACTION.fullmatch(given):
            raise UsageError(f"--action {given!r} is not OWNER/REPO@REF", hint="e.g. --action acme/envctl@v1")
        return given
    import envctl  # noqa: PLC0415

    checkout = checkout or Path(envctl.__file__).resolve().parent.parent
    version = version or envctl.__version__
    repo = None
    if (checkout / ".git").exists():
        try:
            out = subprocess.run(["git", "-C", str(checkout), "remote", "get-url", "origin"],  # noqa: S607
                                 capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            out = None
        if out is not None and out.returncode == 0:
            repo = repo_of_remote(out.stdout)
    if repo is None:
        raise UsageError("cannot tell which action the workflow should use: envctl is not installed "
                         "from a git checkout with a GitHub `origin` remote",
                         hint="give it: envctl init --workflow --action OWNER/REPO@REF")
    return f"{repo}@v{version.split('.', 1)[0]}"
