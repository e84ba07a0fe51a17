"""`envctl init`: a starting configuration for a project that has a compose file.

It reads the compose configuration as compose resolves it, picks the test service, and writes
`[tool.envctl]` into pyproject.toml (or an envctl.toml when there is none); on request also a
GitHub workflow that uses the action. It never overwrites: a file or section that is already
there is left as it is, and said so."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from envctl.docker.models import ComposeProject, ServiceSpec
from envctl.errors import ComposeFileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover  # Python 3.10
    import tomli as tomllib

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


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _string(value: str) -> str:
    """A TOML basic string: JSON's escapes (quotes, backslashes, control characters) are TOML's."""
    return json.dumps(value, ensure_ascii=False)


def _key(name: str) -> str:
    """A TOML key for a service name (compose allows dots, which TOML reads as nesting)."""
    return name if _BARE_KEY.fullmatch(name) else _string(name)


def settings_text(config: ComposeProject, test_service: str, compose_files: list[str],
                  ports: dict[str, int] | None = None, table: str = "") -> str:
    """The settings ``init`` proposes, as TOML (no header of its own; ``table`` prefixes the
    `wait` tables: "tool.envctl." in pyproject.toml). A service with no health check and a
    known port gets a `port` wait; the rest are named in a comment."""
    lines = [f"test_service = {_string(test_service)}"]
    if compose_files:
        lines.append("compose_files = [" + ", ".join(map(_string, compose_files)) + "]")
    lines += ['memory = "2g"  # the test container\'s limits', "cpus = 2", "pids = 1024",
              'health_timeout = "3m"', 'run_timeout = "30m"']
    unchecked = _without_health_check(config, test_service)
    known = {name: port for name, port in (ports or {}).items() if name in unchecked}
    running_only = [name for name in unchecked if name not in known]
    if running_only:
        lines.append(f"# No health check, so envctl waits for these to be running only: "
                     f"{', '.join(running_only)}. Add a healthcheck: to each in the compose file,")
        lines.append("# or a [wait.SERVICE] table with port, http or log (see the README).")
    for name, port in sorted(known.items()):
        lines += ["", f"# {name} has no health check: ready once its port accepts connections.",
                  f"[{table}wait.{_key(name)}]", f"port = {port}"]
    return "\n".join(lines) + "\n"


def ports_of(raw_config: Mapping[str, object]) -> dict[str, int]:
    """Each service's first container port, published (`ports`) or only exposed (`expose`),
    from `docker compose config` JSON."""
    services = raw_config.get("services")
    found: dict[str, int] = {}
    if not isinstance(services, dict):
        return found
    for name, spec in services.items():
        if not isinstance(spec, dict):
            continue
        candidates: list[object] = []
        for entry in spec.get("ports") or []:
            candidates.append(entry.get("target") if isinstance(entry, dict) else None)
        candidates += list(spec.get("expose") or [])
        for candidate in candidates:
            port = _port(candidate)
            if port is not None:
                found[str(name)] = port
                break
    return found


def _port(value: object) -> int | None:
    text = str(value).split("/", 1)[0]  # "5432/tcp"
    if isinstance(value, bool) or not text.isdigit() or not 0 < int(text) < 65536:
        return None  # a range ("8000-8010") or nothing usable
    return int(text)


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


def write_settings(project_dir: Path, render: Callable[[str], str]) -> Written:
    """Into pyproject.toml's [tool.envctl] (appended), else a new envctl.toml; never over one.
    ``render(table)`` gives the text, its sub-tables under ``table`` ("tool.envctl." or "")."""
    pyproject = project_dir / "pyproject.toml"
    toml = project_dir / "envctl.toml"
    if toml.exists() or toml.is_symlink():
        return Written(toml, created=False, why="envctl.toml is already there")
    if pyproject.is_file() and not pyproject.is_symlink():
        current = pyproject.read_text(encoding="utf-8")
        try:
            tool = tomllib.loads(current).get("tool", {})
        except tomllib.TOMLDecodeError:
            return Written(pyproject, created=False, why="pyproject.toml is not valid TOML")
        if isinstance(tool, dict) and "envctl" in tool:
            return Written(pyproject, created=False, why="pyproject.toml already has [tool.envctl]")
        separator = "\n" if current.endswith("\n") else "\n\n"
        _write(pyproject, f"{separator}[tool.envctl]\n{render('tool.envctl.')}", append=True)
        return Written(pyproject, created=True)
    header = "# envctl's settings (`envctl config` shows every value and its source)\n"
    if not _write(toml, header + render("")):
        return Written(toml, created=False, why="envctl.toml appeared meanwhile")
    return Written(toml, created=True)


def write_workflow(project_dir: Path, text: str) -> Written:
    path = project_dir / WORKFLOW
    if path.exists() or path.is_symlink():
        return Written(path, created=False, why=f"{WORKFLOW} is already there")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not _write(path, text):
        return Written(path, created=False, why=f"{WORKFLOW} appeared meanwhile")
    return Written(path, created=True)


def _write(path: Path, text: str, *, append: bool = False) -> bool:
    """Write a new file (False when one is there, a link included), or append to a regular
    one; never through a link."""
    flags = os.O_WRONLY | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_CREAT | os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return True


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
    from envctl.env.environment import Environment  # noqa: PLC0415
    from envctl.env.project import compose_files  # noqa: PLC0415
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
    ports = ports_of(raw)
    written = [write_settings(project_dir,
                              lambda table: settings_text(config, test_service, named, ports, table))]
    if workflow:
        written.append(write_workflow(project_dir, workflow_text(test_service)))
    return written
