"""The job summary's line for the HTML report that the GitHub Action uploads in an artifact.

GitHub cannot link to a file inside an artifact: the line links the workflow run's page at its
artifacts (``#artifacts``) and names the artifact and the file. Run by action.yml as
``python -m envctl.report.action_summary ARTIFACT FILE``, once FILE is written; it appends the
line to ``$GITHUB_STEP_SUMMARY`` (nothing when FILE is missing or empty, or outside Actions).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from envctl.report.github import write_summary
from envctl.report.summary import code_span

# What the runner sets, checked anyway: a value that is not one cannot make the line a link elsewhere.
_SERVER = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~-]+)*/?", re.ASCII)
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}", re.ASCII)
_RUN_ID = re.compile(r"[0-9]{1,20}", re.ASCII)


def artifacts_url(environ: Mapping[str, str]) -> str | None:
    """The workflow run's page at its artifacts, from the runner's variables; None without them."""
    server = environ.get("GITHUB_SERVER_URL", "")
    repository = environ.get("GITHUB_REPOSITORY", "")
    run_id = environ.get("GITHUB_RUN_ID", "")
    if not (_SERVER.fullmatch(server) and _REPOSITORY.fullmatch(repository) and _RUN_ID.fullmatch(run_id)):
        return None
    return f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}#artifacts"


def summary_line(artifact: str, file_name: str, environ: Mapping[str, str]) -> str:
    """One markdown line: the file, the artifact holding it, and where to download it."""
    url = artifacts_url(environ)
    where = f" ([this workflow run's artifacts]({url}))" if url else ""
    return (f"HTML report: {code_span(file_name, 200)} in the artifact {code_span(artifact, 200)}{where}; "
            "download and unzip it, then open the file in a browser.")


def main(argv: list[str], environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    if len(argv) != 2:
        sys.stderr.write("usage: python -m envctl.report.action_summary ARTIFACT FILE\n")
        return 2
    artifact, path = argv[0], Path(argv[1])
    summary = environ.get("GITHUB_STEP_SUMMARY", "")
    try:
        written = path.is_file() and path.stat().st_size > 0
    except OSError:
        written = False
    if written and summary:
        write_summary(Path(summary), "\n" + summary_line(artifact, path.name, environ) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
