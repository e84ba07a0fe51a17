"""Compose, through python-on-whales; every call runs under a deadline.

python-on-whales builds the ``docker compose`` command line (files, project name, project
directory, context). Short calls go through it directly with ``timeout(1)`` prepended to the
client call, so a hung CLI is killed at its deadline. Long-running calls (``up``, ``run``) are
started as processes envctl can watch and kill while it follows the engine's events.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from envctl.docker import process, timeouts
from envctl.docker.cli_config import engine_environment, engine_prefix
from envctl.docker.models import ComposeProject
from envctl.errors import ComposeFileError, ComposeUnavailableError, DockerError
from envctl.locks import held_fds

TIMEOUT_EXIT = 124  # what timeout(1) returns when the deadline killed the command
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")
MIN_COMPOSE = (2, 20)
NO_PLUGIN = "'compose' is not a docker command"  # the docker CLI's words when the plugin is absent
COMPOSE_HINT = "run scripts/setup-docker, or install docker-compose-plugin"
KILL_AFTER = f"--kill-after={timeouts.KILL_AFTER}"  # timeout(1)'s flag


class ComposeCommandError(DockerError):
    """A compose command exited non-zero; ``output`` holds what it printed."""

    def __init__(self, message: str, *, output: str, returncode: int) -> None:
        super().__init__(message)
        self.output = output
        self.returncode = returncode


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.search(text)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


class Compose:
    """One compose project: its files, name and directory."""

    def __init__(self, files: Sequence[Path], project: str | None, *,
                 timeout: float = timeouts.CALL, context: str | None = None,
                 env_files: Sequence[Path] = (), profiles: Sequence[str] = (),
                 host: str | None = None) -> None:
        # No project directory: compose takes the first file's folder, as users expect. No
        # project name (None): compose's own (COMPOSE_PROJECT_NAME, `name:`, that folder's name).
        self.files = [Path(f) for f in files]
        self.project = project
        self.timeout = timeout
        self.context = context
        self.env_files = [Path(f) for f in env_files]
        self.profiles = list(profiles)
        # The engine (a DOCKER_HOST value) when it is not this process's own: handed to each
        # compose process in its environment, so engines never change os.environ (shards on two
        # engines run from one process).
        self.host = host

    def _client(self, deadline: float | None) -> Any:
        from python_on_whales import DockerClient  # noqa: PLC0415  # lazy: ~260 ms to import

        # Another engine is named by env(1) as for `command`'s processes (DOCKER_HOST, and a
        # context's TLS settings in place of the user's), never by --host alone.
        call = [*engine_prefix(self.host), "docker"]
        if deadline is not None and shutil.which("timeout"):
            call = ["timeout", KILL_AFTER, f"{deadline:.0f}", *call]
        return DockerClient(
            client_call=call,
            compose_files=self.files,
            compose_project_name=self.project,
            compose_env_files=self.env_files,
            compose_profiles=self.profiles,
            context=self.context,
        )

    def command(self, *args: str) -> list[str]:
        """The argv of ``docker compose <args>`` for this project (no deadline wrapper).

        Built here rather than by python-on-whales: the process-style calls (up, run) are on
        `envctl test --detach`'s hot path, and importing python-on-whales costs ~260 ms.
        """
        prefix = engine_prefix(self.host)
        plugin = None if self.context else compose_plugin(engine_environment(self.host))
        argv = [*prefix, str(plugin)] if plugin else \
            [*prefix, "docker", *(["--context", self.context] if self.context else []), "compose"]
        for path in self.files:
            argv += ["--file", str(path)]
        for path in self.env_files:
            argv += ["--env-file", str(path)]
        for profile in self.profiles:
            argv += ["--profile", profile]
        # One argument: standalone compose drops a first bare word `compose` (a project so named).
        return [*argv, *([f"--project-name={self.project}"] if self.project else []), *args]

    def _call(self, what: str, fn: Any, deadline: float | None = None) -> Any:
        from python_on_whales.exceptions import DockerException  # noqa: PLC0415

        limit = deadline or self.timeout
        try:
            return fn(self._client(limit))
        except DockerException as exc:
            output = "\n".join(filter(None, [exc.stdout, exc.stderr]))
            if exc.return_code == TIMEOUT_EXIT:
                raise DockerError(f"{what}: docker compose did not finish within {limit:.0f}s",
                                  hint="is the engine overloaded? raise docker_timeout") from exc
            if NO_PLUGIN in output:
                raise ComposeUnavailableError(
                    "the docker compose v2 plugin is not installed (`docker compose` is unknown)",
                    hint=COMPOSE_HINT) from exc
            raise ComposeCommandError(f"{what}: {first_error_line(output)}", output=output,
                                      returncode=exc.return_code) from exc

    def version(self) -> tuple[int, int, int]:
        """The compose plugin's version; ComposeUnavailableError when absent or too old."""
        from python_on_whales.exceptions import DockerException  # noqa: PLC0415

        try:
            text = self._client(min(self.timeout, timeouts.COMPOSE_VERSION)).compose.version()
        except DockerException as exc:
            raise ComposeUnavailableError("the docker compose v2 plugin is not installed",
                                          hint=COMPOSE_HINT) from exc
        version = parse_version(str(text))
        if version is None:
            raise ComposeUnavailableError(f"cannot read the compose version from {text!r}")
        if version[:2] < MIN_COMPOSE:
            raise ComposeUnavailableError(
                f"docker compose {'.'.join(map(str, version))} is too old; envctl needs >= 2.20",
                hint="upgrade the compose plugin (scripts/setup-docker installs a current one)",
            )
        return version

    def config(self) -> ComposeProject:
        """The resolved configuration; ComposeFileError when compose rejects the files."""
        return ComposeProject.from_config(self.config_json(), docker_host=self.host)

    def config_json(self) -> dict[str, Any]:
        """``docker compose config`` as JSON (what ``config`` parses)."""
        try:
            data: dict[str, Any] = self._call("reading the compose files",
                                              lambda c: c.compose.config(return_json=True))
        except ComposeCommandError as exc:
            files = ", ".join(str(f) for f in self.files)
            raise ComposeFileError(f"compose rejects {files}: {first_error_line(exc.output)}",
                                   hint="fix the compose file") from None
        return data

    def build(self, services: Sequence[str], *, deadline: float,
              cancelled: Callable[[], bool] = lambda: False) -> None:
        """``compose build --quiet SERVICES``; a cancel ends it (CancelRequestedError)."""
        if not services:
            return
        what = f"building {', '.join(services)}"
        argv = ["timeout", KILL_AFTER, f"{deadline:.0f}", *self.command("build", "--quiet", *services)]
        done = process.run(argv, cancelled=cancelled, what=what)
        if done.returncode == 0:
            return
        output = done.output.decode("utf-8", errors="replace")
        if done.returncode == TIMEOUT_EXIT:
            raise DockerError(f"{what}: docker compose did not finish within {deadline:.0f}s",
                              hint="is the engine overloaded? raise docker_timeout")
        raise ComposeCommandError(f"{what}: {first_error_line(output)}", output=output,
                                  returncode=done.returncode)

    def down(self, *, volumes: bool = False, deadline: float | None = None) -> None:
        self._call("docker compose down",
                   lambda c: c.compose.down(volumes=volumes, remove_orphans=True, timeout=5, quiet=True),
                   deadline)

    def run_detached(self, service: str, command: Sequence[str], *, name: str,
                     deadline: float, cancelled: Callable[[], bool] = lambda: False) -> None:
        """``compose run --detach --no-deps --no-TTY --name NAME SERVICE COMMAND...``, no --rm:
        the container must outlive its exit until its results are collected. A cancel ends it
        (CancelRequestedError); the caller removes what it may have created."""
        argv = ["timeout", KILL_AFTER, f"{deadline:.0f}",
                *self.command("run", "--detach", "--no-deps", "--no-TTY", "--name", name, service,
                              *command)]
        done = process.run(argv, cancelled=cancelled, what=f"starting the {service} container",
                           pass_fds=held_fds())  # see start_up
        if done.returncode == 0:
            return
        output = done.output.decode("utf-8", errors="replace")
        if done.returncode == TIMEOUT_EXIT:
            raise DockerError(f"starting the {service} container: docker compose run did not finish "
                              f"within {deadline:.0f}s")
        raise ComposeCommandError(f"starting the {service} container: {first_error_line(output)}",
                                  output=output, returncode=done.returncode)

    def start_up(self, services: Sequence[str], *, output: IO[bytes],
                 deadline: float) -> subprocess.Popen[bytes]:
        """Start ``compose up -d --no-build SERVICES`` as a process the caller watches.

        It is handed the start lock this thread holds: a starter killed while compose still
        creates containers leaves the lock held until compose is done, so the next start never
        races it for a container name."""
        argv = ["timeout", KILL_AFTER, f"{deadline:.0f}",
                *self.command("up", "--detach", "--no-build", "--no-color", *services)]
        return subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, pass_fds=held_fds())


# Where the docker CLI looks for its plugins after the user's own folder (docker/cli's
# defaultSystemPluginDirs on Linux), in its order.
SYSTEM_PLUGIN_DIRS = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
                      "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")
_plugin_cache: dict[str, Path | None] = {}


def compose_plugin(environ: Mapping[str, str] | None = None) -> Path | None:
    """The compose plugin the docker CLI would run for `docker compose`, to run it directly
    (its standalone mode: the same binary, flags and output, ~40 ms less per call than going
    through the docker CLI, which first asks each plugin for its metadata).

    None (go through `docker compose`) whenever the docker CLI would decide something the plugin
    alone might not: a context other than the default (DOCKER_CONTEXT or the config's
    ``currentContext``), extra plugin folders, a config that cannot be read, or no plugin found."""
    env = os.environ if environ is None else environ
    key = "\0".join(env.get(k, "") for k in ("DOCKER_CONFIG", "HOME", "DOCKER_CONTEXT",
                                              "DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND"))
    if environ is None and key in _plugin_cache:
        return _plugin_cache[key]
    found = _find_plugin(env)
    if environ is None:
        _plugin_cache[key] = found
    return found


def _find_plugin(env: Mapping[str, str]) -> Path | None:
    from envctl.docker.cli_config import config_dir, plain_default_context  # noqa: PLC0415

    # Set, the plugin believes the docker CLI started it, and reads its arguments as a plugin.
    if env.get("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND") or plain_default_context(env) is None:
        return None
    user = config_dir(env)
    if user is None:
        return None
    for folder in (user / "cli-plugins", *map(Path, SYSTEM_PLUGIN_DIRS)):
        candidate = folder / "docker-compose"
        if candidate.exists():  # the first one found is the CLI's, runnable or not
            return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None
    return None


_ERROR_LINE = re.compile(r"(error|failed|invalid|unknown|no such|not found|denied|refused|already)",
                         re.IGNORECASE)


def first_error_line(output: str) -> str:
    """The most telling line of compose's output, for a one-line message."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    # The engine's own words say why; compose's last line often only says that it failed.
    for line in reversed(lines):
        if "Error response from daemon: " in line:
            return line.split("Error response from daemon: ", 1)[1]
    for line in reversed(lines):
        if _ERROR_LINE.search(line):
            return line.removeprefix("Error response from daemon: ")
    return lines[-1] if lines else "no output"
