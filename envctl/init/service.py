"""``init --test-service``: a `test` service (compose override) and the Dockerfile it builds."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from envctl.docker.models import ComposeProject
from envctl.init.write import toml_string

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover  # Python 3.10
    import tomli as tomllib

OVERRIDE = "compose.envctl.yaml"
DOCKERFILE = "Dockerfile.test"
BASE_IMAGE = "python:3.11-slim"


def install_line(project_dir: Path) -> str:
    """The `pip install` that brings the project and its test dependencies (and pytest)."""
    args: list[str] = []
    pyproject = project_dir / "pyproject.toml"
    if pyproject.is_file():
        try:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            project = {}
        extras = project.get("optional-dependencies", {}) if isinstance(project, dict) else {}
        chosen = [e for e in ("test", "tests", "dev") if isinstance(extras, dict) and e in extras][:1]
        if isinstance(project, dict) and project:
            args.append(shlex.quote(f".[{chosen[0]}]") if chosen else ".")
            args[-1:] = ["-e", args[-1]]
    for name in sorted(p.name for p in project_dir.glob("requirements*.txt") if p.is_file()):
        args += ["-r", shlex.quote(name)]
    return "RUN pip install --no-cache-dir " + " ".join([*args, "pytest"])


def dockerfile_text(project_dir: Path) -> str:
    return (f"# Written by `envctl init --test-service`: the project, its test dependencies and pytest.\n"
            f"FROM {BASE_IMAGE}\nWORKDIR /src\nCOPY . .\n{install_line(project_dir)}\n"
            'CMD ["pytest"]\n')


def service_override_text(config: ComposeProject, context: str) -> str:
    """The compose override with a `test` service built from Dockerfile.test, waiting for the
    others: healthy ones healthy, the rest started."""
    lines = ["# Written by `envctl init --test-service`: the service `envctl test` runs pytest in.",
             "services:", "  test:", "    build:", f"      context: {toml_string(context)}",
             f"      dockerfile: {DOCKERFILE}"]
    others = sorted(config.services)
    if others:
        lines.append("    depends_on:")
        for name in others:
            healthy = config.services[name].has_healthcheck
            lines += [f"      {toml_string(name)}:",
                      f"        condition: {'service_healthy' if healthy else 'service_started'}"]
    lines.append('    command: ["pytest"]')
    return "\n".join(lines) + "\n"
