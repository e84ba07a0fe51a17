"""What ``init`` writes: the settings (only what differs from the defaults), the workflow and
.gitignore's `.envctl/`; never over a file or a section that is there, never through a link."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from envctl.docker.models import ComposeProject
from envctl.init.detect import waits_for

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover  # Python 3.10
    import tomli as tomllib

WORKFLOW = Path(".github") / "workflows" / "envctl.yml"
DEFAULT_COMMAND = ["pytest"]


@dataclass(frozen=True)
class Written:
    """One file ``init`` made, or kept."""

    path: Path
    created: bool
    why: str = ""


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes (quotes, backslashes, control characters) are TOML's."""
    return json.dumps(value, ensure_ascii=False)


def _key(name: str) -> str:
    """A TOML key for a service name (compose allows dots, which TOML reads as nesting)."""
    return name if _BARE_KEY.fullmatch(name) else toml_string(name)


def settings_text(config: ComposeProject, test_service: str, compose_files: list[str],  # noqa: PLR0917
                  ports: dict[str, int] | None = None, table: str = "",
                  test_command: list[str] | None = None) -> str:
    """The settings ``init`` proposes, as TOML (no header of its own; ``table`` prefixes the
    `wait` tables: "tool.envctl." in pyproject.toml). Only what differs from the defaults: the
    test service if not `test`, the compose files if not compose's own, the service's pytest
    command if not plain `pytest`. A service with no health check and a known port gets a `port`
    wait; the rest are named in a comment."""
    lines = []
    if test_service != "test":
        lines.append(f"test_service = {toml_string(test_service)}")
    if compose_files:
        lines.append("compose_files = [" + ", ".join(map(toml_string, compose_files)) + "]")
    if test_command and test_command != DEFAULT_COMMAND:
        lines.append(f"# the `{test_service}` service's own command; `envctl test` runs it")
        lines.append("test_command = [" + ", ".join(map(toml_string, test_command)) + "]")
    running_only, known = waits_for(config, test_service, ports)
    if running_only:
        lines.append(f"# No health check, so envctl waits for these to be running only: "
                     f"{', '.join(running_only)}. Add a healthcheck: to each in the compose file,")
        lines.append("# or a [wait.SERVICE] table with port, http or log (see the README).")
    for name, port in sorted(known.items()):
        lines += ["", f"# {name} has no health check: ready once its port accepts connections.",
                  f"[{table}wait.{_key(name)}]", f"port = {port}"]
    if not lines:
        lines.append("# Every default fits this project; `envctl config` shows them all.")
    return "\n".join(lines) + "\n"


def write_gitignore(project_dir: Path) -> Written:
    """`.envctl/` in the project's .gitignore: a new file, or appended once."""
    path = project_dir / ".gitignore"
    if path.is_symlink():
        return Written(path, created=False, why=".gitignore is a link")
    if not path.exists():
        _write(path, "# envctl's runs, logs and state\n.envctl/\n")
        return Written(path, created=True, why="with .envctl/")
    current = path.read_text(encoding="utf-8", errors="replace")
    if any(line.strip() in (".envctl", ".envctl/", "/.envctl", "/.envctl/", ".envctl/*")
           for line in current.splitlines()):
        return Written(path, created=False, why=".envctl/ is already ignored")
    _write(path, ("" if current.endswith("\n") or not current else "\n") + ".envctl/\n", append=True)
    return Written(path, created=True, why="appended .envctl/")


def write_new(path: Path, text: str) -> Written:
    if path.exists() or path.is_symlink() or not _write(path, text):
        return Written(path, created=False, why=f"{path.name} is already there")
    return Written(path, created=True)


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
