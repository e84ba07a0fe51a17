"""`envctl init`: a starting configuration for a project that has a compose file.

It reads the compose configuration as compose resolves it, picks the test service (or, asked,
writes one), and writes `[tool.envctl]` into pyproject.toml (or an envctl.toml when there is
none) with only what differs from the defaults, `.envctl/` into .gitignore, and on request a
GitHub workflow that uses the action. It never overwrites: a file or section that is already
there is left as it is, and said so. ``init`` returns a Report, whose summary the CLI prints."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from envctl.errors import ComposeFileError, ConfigError
from envctl.init.detect import (
    TEST_NAMES,
    commands_of,
    pick_test_service,
    ports_of,
    runs_pytest,
    waits_for,
)
from envctl.init.service import (
    BASE_IMAGE,
    DOCKERFILE,
    OVERRIDE,
    dockerfile_text,
    install_line,
    service_override_text,
)
from envctl.init.workflow import action_ref, repo_of_remote, workflow_text
from envctl.init.write import (
    WORKFLOW,
    Written,
    settings_text,
    toml_string,
    write_gitignore,
    write_new,
    write_settings,
    write_workflow,
)

__all__ = [
    "BASE_IMAGE", "DOCKERFILE", "OVERRIDE", "TEST_NAMES", "WORKFLOW", "Report", "Written",
    "action_ref", "commands_of", "dockerfile_text", "init", "install_line", "pick_test_service",
    "ports_of", "repo_of_remote", "service_override_text", "settings_text", "toml_string",
    "workflow_text", "write_gitignore", "write_settings", "write_workflow",
]


@dataclass
class Report:
    """What ``init`` found and wrote, for its summary."""

    project_dir: Path
    compose_files: list[str]
    project_name: str
    test_service: str
    command: list[str] | None
    kept_command: bool
    healthy: list[str]
    port_waits: dict[str, int]
    running_only: list[str]
    generated: bool = False
    written: list[Written] = field(default_factory=list)

    def summary(self) -> str:
        def rel(path: Path) -> str:
            inside = path.is_relative_to(self.project_dir)
            return str(path.relative_to(self.project_dir)) if inside else str(path)

        out = [f"compose files: {', '.join(self.compose_files)}", f"project name:  {self.project_name}"]
        if self.generated:
            out.append(f"test service:  {self.test_service} (new, in {OVERRIDE}, built from {DOCKERFILE}); "
                       "runs pytest")
        elif self.kept_command:
            out.append(f"test service:  {self.test_service}; its command kept as test_command: "
                       f"{shlex.join(self.command or [])}")
        elif self.command:
            out.append(f"test service:  {self.test_service}; its command ({shlex.join(self.command)}) "
                       "does not run pytest: `envctl test` runs `pytest` there instead")
        else:
            out.append(f"test service:  {self.test_service}; no command of its own: "
                       "`envctl test` runs `pytest`")
        out.append(f"health checks: {', '.join(self.healthy) or 'none'}")
        for name, port in sorted(self.port_waits.items()):
            out.append(f"wait written:  {name} (no health check): port {port}")
        if self.running_only:
            out.append(f"running only:  {', '.join(self.running_only)} (no health check, no port: "
                       "add a healthcheck or a [wait] table)")
        for item in self.written:
            verb = "wrote" if item.created else "kept "
            why = f" ({item.why})" if item.why else ""
            out.append(f"{verb}         {rel(item.path)}{why}")
        out += ["", "next:", "  envctl up                  # bring the services up and wait until ready",
                "  envctl test                # run the tests in the test service",
                "  envctl test --detach && envctl wait   # or in the background, then wait for it"]
        return "\n".join(out) + "\n"


def init(project_dir: Path, *, workflow: bool, test_service: bool = False,
         action: str | None = None) -> Report:
    """Write the starting settings, .gitignore's `.envctl/` (and the test service, the workflow,
    if asked); what was found and written."""
    from envctl.env.environment import Environment  # noqa: PLC0415
    from envctl.env.project import compose_files  # noqa: PLC0415
    from envctl.settings import load_settings  # noqa: PLC0415

    uses = action_ref(action) if workflow else ""  # before anything is written
    settings = load_settings(project_dir)
    env = Environment(settings)
    config = env.config()
    raw = env._base_compose().config_json()  # the commands, read once, not cached
    commands = commands_of(raw)
    files = compose_files(settings)
    shown = [str(f.relative_to(project_dir)) if f.is_relative_to(project_dir) else str(f) for f in files]
    try:
        default = files == compose_files(load_settings(project_dir, environ={}))
    except ConfigError:  # found only through the environment (COMPOSE_FILE, ENVCTL_COMPOSE_FILES)
        default = False
    named = [] if default else shown
    written: list[Written] = []
    try:
        service = pick_test_service(config, settings.test_service, commands)
        generated = False
    except ComposeFileError as exc:
        if not test_service:
            raise ComposeFileError(f"{exc.message}; nothing written",
                                   hint="`envctl init --test-service` writes one (a `test` service "
                                        f"in {OVERRIDE}, built from {DOCKERFILE})") from None
        if "test" in config.services:
            raise
        service, generated = "test", True
        context = os.path.relpath(project_dir, files[0].parent)
        written.append(write_new(project_dir / DOCKERFILE, dockerfile_text(project_dir)))
        written.append(write_new(project_dir / OVERRIDE, service_override_text(config, context)))
        named = (named or shown) + [OVERRIDE]
        shown = [*shown, OVERRIDE]
    command = None if generated else commands.get(service)
    kept = runs_pytest(command)
    ports = ports_of(raw)
    running_only, known = waits_for(config, service, ports)
    written.insert(0, write_settings(project_dir, lambda table: settings_text(
        config, service, named, ports, table, command if kept else None)))
    written.append(write_gitignore(project_dir))
    if workflow:
        written.append(write_workflow(project_dir, workflow_text(service, uses)))
    healthy = sorted(n for n, s in config.services.items() if s.has_healthcheck and n != service)
    return Report(project_dir, shown, env.project, service, command, kept, healthy, known,
                  running_only, generated, written)
