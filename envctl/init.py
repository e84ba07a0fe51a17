"""`envctl init`: a starting configuration for a project that has a compose file.

It reads the compose configuration as compose resolves it, picks the test service, and writes
`[tool.envctl]` into pyproject.toml (or an envctl.toml when there is none); on request also a
GitHub workflow that uses the action. It never overwrites: a file or section that is already
there is left as it is, and said so."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from envctl.docker.models import ComposeProject, ServiceSpec
from envctl.errors import ComposeFileError

TEST_NAMES = ("test", "tests", "pytest")
WORKFLOW = Path(".github") / "workflows" / "envctl.yml"


@dataclass(frozen=True)
class Written:
    """One file ``init`` made, or kept."""

    path: Path
    created: bool
    why: str = ""


def pick_test_service(config: ComposeProject, configured: str,
                      commands: dict[str, list[str]] | None = None) -> str:
    """The configured name if compose has it; else a service named like one, else one behind a
    `test` profile, else one whose command runs pytest."""
    services = config.services
    if configured in services:
        return configured
    for name in TEST_NAMES:
        if name in services:
            return name
    for name, spec in services.items():
        if "test" in spec.profiles or "tests" in spec.profiles:
            return name
    for name, command in (commands or {}).items():
        if name in services and any("pytest" in part for part in command):
            return name
    raise ComposeFileError(
        f"no test service among {', '.join(sorted(services)) or 'no services'}",
        hint="name the service that runs pytest `test`, or write test_service = \"...\" yourself")


def settings_text(config: ComposeProject, test_service: str, compose_files: list[str]) -> str:
    """The settings ``init`` proposes, as TOML lines (no table header)."""
    lines = [f'test_service = "{test_service}"']
    if compose_files:
        lines.append("compose_files = [" + ", ".join(f'"{f}"' for f in compose_files) + "]")
    lines += ['memory = "2g"  # the test container\'s limits', "cpus = 2", "pids = 1024",
              'health_timeout = "3m"', 'run_timeout = "30m"']
    unchecked = _without_health_check(config, test_service)
    if unchecked:
        lines.append(f"# No health check, so envctl waits for these to be running only: "
                     f"{', '.join(unchecked)}. Add a healthcheck: to each in the compose file.")
    return "\n".join(lines) + "\n"


def _without_health_check(config: ComposeProject, test_service: str) -> list[str]:
    def needs(spec: ServiceSpec) -> bool:
        return not spec.has_healthcheck and spec.restart in ("no", "") and spec.name != test_service

    return sorted(name for name, spec in config.services.items() if needs(spec))


def workflow_text(test_service: str) -> str:
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
      - uses: <owner>/envctl@v1
        with:
          timeout: 30m
"""


def write_settings(project_dir: Path, text: str) -> Written:
    """Into pyproject.toml's [tool.envctl] (appended), else a new envctl.toml; never over one."""
    pyproject = project_dir / "pyproject.toml"
    toml = project_dir / "envctl.toml"
    if toml.exists():
        return Written(toml, created=False, why="envctl.toml is already there")
    if pyproject.is_file():
        current = pyproject.read_text(encoding="utf-8")
        if "[tool.envctl]" in current:
            return Written(pyproject, created=False, why="pyproject.toml already has [tool.envctl]")
        separator = "\n" if current.endswith("\n") else "\n\n"
        with pyproject.open("a", encoding="utf-8") as handle:
            handle.write(f"{separator}[tool.envctl]\n{text}")
        return Written(pyproject, created=True)
    with toml.open("x", encoding="utf-8") as handle:  # "x": never over a file made meanwhile
        handle.write(f"# envctl's settings (`envctl config` shows every value and its source)\n{text}")
    return Written(toml, created=True)


def write_workflow(project_dir: Path, text: str) -> Written:
    path = project_dir / WORKFLOW
    if path.exists():
        return Written(path, created=False, why=f"{WORKFLOW} is already there")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as handle:
        handle.write(text)
    return Written(path, created=True)


def commands_of(raw_config: dict[str, object]) -> dict[str, list[str]]:
    """Each service's command from `docker compose config` JSON (read here only, never cached)."""
    services = raw_config.get("services")
    found: dict[str, list[str]] = {}
    if isinstance(services, dict):
        for name, spec in services.items():
            command = spec.get("command") if isinstance(spec, dict) else None
            if isinstance(command, list):
                found[str(name)] = [str(part) for part in command]
            elif isinstance(command, str):
                found[str(name)] = command.split()
    return found


def init(project_dir: Path, *, workflow: bool) -> list[Written]:
    """Write the starting settings (and the workflow, if asked); what was written or kept."""
    from envctl.environment import Environment  # noqa: PLC0415
    from envctl.project import compose_files  # noqa: PLC0415
    from envctl.settings import load_settings  # noqa: PLC0415

    settings = load_settings(project_dir)
    env = Environment(settings)
    config = env.config()
    raw = env._base_compose().config_json()  # the commands, read once, not cached
    test_service = pick_test_service(config, settings.test_service, commands_of(raw))
    files = compose_files(settings)
    default = files == compose_files(load_settings(project_dir, environ={}))
    named = [] if default else [str(f.relative_to(project_dir)) if f.is_relative_to(project_dir) else str(f)
                                for f in files]
    written = [write_settings(project_dir, settings_text(config, test_service, named))]
    if workflow:
        written.append(write_workflow(project_dir, workflow_text(test_service)))
    return written
