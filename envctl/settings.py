"""One frozen settings model, resolved from five layers.

Precedence, lowest first: defaults < ``[tool.envctl]`` in pyproject.toml < envctl.toml <
``ENVCTL_*`` environment variables < command-line flags. Every field is declared once in
``FIELDS`` with its default, its variable and its help; ``envctl config`` prints the resolved
values and the layer each came from. The environment is read when ``load_settings`` is called,
never at import.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from envctl import setting_values as values
from envctl.addresses import is_address_variable
from envctl.errors import ConfigError, UsageError

# Re-exported: a wait is part of the settings model, and callers know it from here.
from envctl.setting_values import ServiceWait as ServiceWait  # noqa: PLC0414
from envctl.units import parse_duration, parse_size

ENV_PREFIX = "ENVCTL_"
# Variables under these prefixes belong to the setup scripts and the test suite, not to settings.
_ENV_NOT_SETTINGS = ("ENVCTL_SETUP_", "ENVCTL_BENCH_", "ENVCTL_CI_")
# The on_finish hook's own variables (envctl.runs.hook), and those the plugin reads that a
# `test --host` run hands the tests (runs/host_run.py): a hook or a test that calls envctl keeps them.
_ENV_NOT_SETTINGS_NAMES = frozenset({"ENVCTL_PROJECT_DIR", "ENVCTL_RUN_ID", "ENVCTL_RUN_STATE",
                                     "ENVCTL_EXIT_CODE", "ENVCTL_RUN_DIR", "ENVCTL_SUMMARY",
                                     "ENVCTL_PROGRESS_DIR", "ENVCTL_MEMORY_CGROUP", "ENVCTL_SHARD",
                                     "ENVCTL_DURATIONS", "ENVCTL_SELECT"})


@dataclass(frozen=True)
class FieldSpec:
    """How one setting is named, defaulted, parsed and explained."""

    name: str
    default: object
    parse: Callable[[object], object]
    help: str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("compose_files", (), values.str_list,
              "Compose files, in order. Empty: compose's own names in the project dir "
              "(compose.yaml, docker-compose.yml, ...), then compose/compose.yaml. "
              "In ENVCTL_COMPOSE_FILES, separate them with ':'."),
    FieldSpec("project_name", None, values.optional_project_name,
              "Compose project name. Empty: the project directory's name, normalized as compose does."),
    FieldSpec("test_service", "test", values.service, "The compose service that runs the tests."),
    FieldSpec("test_command", ("pytest",), values.command,
              "The test command run in the test service; pytest arguments are appended."),
    FieldSpec("host_command", (), values.optional_command,
              "The command `envctl test --host` runs on this machine; pytest arguments are appended. "
              "Empty: the pytest beside envctl's Python, else the one on PATH, else python -m pytest."),
    FieldSpec("health_timeout", 180.0, values.positive_duration,
              "How long `up` waits for every service to be ready (e.g. 90s, 5m)."),
    FieldSpec("memory", 2 << 30, values.memory, "Memory limit of the test container (e.g. 512m, 2g)."),
    FieldSpec("cpus", 2.0, values.cpus, "CPU limit of the test container."),
    FieldSpec("pids", 1024, values.positive_int, "Process limit of the test container."),
    FieldSpec("log_dir", Path(".envctl/runs"), values.path,
              "Where run records go; relative paths are under the project directory."),
    FieldSpec("durations_file", Path(".envctl/durations.json"), values.path,
              "Recorded test durations that shard splits balance on; `report merge` writes it."),
    FieldSpec("history_file", None, values.optional_path,
              "Every test's outcomes over the last runs (new failures, flaky tests, the HTML "
              "report's history). Empty: history.jsonl in log_dir."),
    FieldSpec("keep_runs", 20, values.positive_int, "How many finished runs rotation keeps."),
    FieldSpec("max_age", 14 * 86400.0, values.positive_duration,
              "Runs older than this are removed (e.g. 14d)."),
    FieldSpec("max_log_size", 200 << 20, parse_size,
              "Cap on each run's output log; the rest is cut, and the log says so (e.g. 200m)."),
    FieldSpec("run_timeout", 0.0, parse_duration,
              "Default timeout of a test run; 0 means none. Enforced inside the container."),
    FieldSpec("docker_timeout", 60.0, values.positive_duration,
              "Deadline of each single Docker call (not of waits, which have their own)."),
    FieldSpec("heartbeat", 60.0, values.positive_duration,
              "In `wait --ci`, the longest silence between two progress lines."),
    FieldSpec("inject_plugin", "auto", values.inject,
              "Mount envctl's progress plugin and runner into the test container: auto (when the "
              "engine is local) or off (progress parsed from pytest's output; JUnit copied out)."),
    FieldSpec("log_format", "auto", values.log_format,
              "envctl's own log lines: auto (console on a TTY, JSON otherwise), console or json."),
    FieldSpec("allow", (), values.allow,
              "What the test service may do that hands it the host, refused otherwise: privileged, "
              "docker-socket (an engine's socket or a folder holding one), host-root-mount (/), "
              "host-system-mount (/proc, /sys, /etc, /root, /dev, /boot, /var/lib/docker), "
              "host-network, host-pid, host-ipc, host-userns, host-cgroup, host-uts (each also "
              "through service:X), capabilities (cap_add of ALL, SYS_ADMIN, SYS_PTRACE, SYS_MODULE, "
              "DAC_READ_SEARCH, MKNOD), devices, security-opt (seccomp, apparmor or systempaths "
              "unconfined, label disable), shared-namespace (container:X, or pid of a service "
              "holding any of these), volumes-from (container:X)."),
    FieldSpec("profiles", (), values.profiles,
              "Compose profiles to activate, besides COMPOSE_PROFILES (as `docker compose --profile`)."),
    FieldSpec("env_files", (), values.str_list,
              "Files of variables for compose to interpolate, instead of the project's .env (as "
              "`docker compose --env-file`); relative to the project directory."),
    FieldSpec("wait", (), values.waits,
              "Readiness for services with no health check: [wait.SERVICE] with port = N, "
              "http = \"/path\" (with port), log = \"regex\", timeout = \"30s\"."),
    FieldSpec("wait_probe", "auto", values.wait_probe,
              "Where port and http waits are tried from: host (this machine: a published port, or "
              "the container's address on a local Linux engine), network (a short-lived container "
              "of the test service's image in the service's own network namespace), or auto (host "
              "when it has an address, else network: Docker Desktop, remote engines)."),
    FieldSpec("on_finish", (), values.optional_command,
              "A command run on this machine once when a run's end is recorded (never a shard's), "
              "with ENVCTL_RUN_ID, ENVCTL_RUN_STATE, ENVCTL_EXIT_CODE, ENVCTL_RUN_DIR and "
              "ENVCTL_SUMMARY set; its output goes to hook.log in the run folder. Empty: none."),
    FieldSpec("on_finish_timeout", 60.0, values.positive_duration,
              "How long the on_finish command may take before it is interrupted, terminated, killed."),
    FieldSpec("resource_interval", 2.0, values.sampling,
              "Seconds between two writes of a run's resource figures (memory, CPU, pids) while it "
              "runs, read by status and drawn by the HTML report (e.g. 5s); 0 turns sampling off."),
    FieldSpec("engines", (), values.engines,
              "Docker engines the shards of `test --shards N` are placed on, weighted by their CPUs: "
              "docker context names or addresses (unix://, tcp://, ssh://), each optionally =CPUS to "
              "weigh it otherwise (e.g. [\"default\", \"ssh://ci@build-box=16\"]). Empty: the one "
              "engine envctl talks to."),
    FieldSpec("engine_loss_grace", 30.0, values.positive_duration,
              "How long a shard's engine (one of several `engines`) may not answer before the shard "
              "ends infra-error: a daemon restart or a dropped SSH link back within it is a blip."),
    FieldSpec("secrets", (), values.variables,
              "Environment variables whose values envctl never writes anywhere, besides those whose "
              "names hold TOKEN, SECRET, PASSWORD, PASSWD, KEY or CREDENTIAL (and every .env value)."),
)
FIELDS_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}


@dataclass(frozen=True)
class Settings:
    """The resolved settings. Build with ``load_settings``; never mutate."""

    project_dir: Path
    compose_files: tuple[str, ...] = ()
    project_name: str | None = None
    test_service: str = "test"
    test_command: tuple[str, ...] = ("pytest",)
    host_command: tuple[str, ...] = ()
    health_timeout: float = 180.0
    memory: int = 2 << 30
    cpus: float = 2.0
    pids: int = 1024
    log_dir: Path = Path(".envctl/runs")
    durations_file: Path = Path(".envctl/durations.json")
    history_file: Path | None = None
    keep_runs: int = 20
    max_age: float = 14 * 86400.0
    max_log_size: int = 200 << 20
    run_timeout: float = 0.0
    docker_timeout: float = 60.0
    heartbeat: float = 60.0
    inject_plugin: str = "auto"
    log_format: str = "auto"
    allow: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    env_files: tuple[str, ...] = ()
    wait: tuple[ServiceWait, ...] = ()
    wait_probe: str = "auto"
    on_finish: tuple[str, ...] = ()
    on_finish_timeout: float = 60.0
    resource_interval: float = 2.0
    engines: tuple[str, ...] = ()
    engine_loss_grace: float = 30.0
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def resolved_log_dir(self) -> Path:
        return self.log_dir if self.log_dir.is_absolute() else self.project_dir / self.log_dir

    @property
    def resolved_durations_file(self) -> Path:
        path = self.durations_file
        return path if path.is_absolute() else self.project_dir / path

    @property
    def resolved_history_file(self) -> Path:
        """Where the tests' history is kept: the setting, else beside the runs (the name is
        ``envctl.history.HISTORY_FILE``; settings import nothing of envctl.history)."""
        path = self.history_file
        if path is None:
            return self.resolved_log_dir / "history.jsonl"
        return path if path.is_absolute() else self.project_dir / path

    @property
    def resolved_env_files(self) -> tuple[Path, ...]:
        return tuple(p if p.is_absolute() else self.project_dir / p for p in map(Path, self.env_files))

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sources"}

    def to_json(self) -> dict[str, Any]:
        """The resolved values as JSON types (for a background process to pick up)."""
        data: dict[str, Any] = {}
        for name, value in self.as_dict().items():
            if isinstance(value, Path):
                data[name] = str(value)
            elif isinstance(value, tuple):
                data[name] = [asdict(v) if isinstance(v, ServiceWait) else v for v in value]
            else:
                data[name] = value
        data["sources"] = dict(self.sources)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        values = {spec.name: spec.parse(data[spec.name]) if data.get(spec.name) is not None else None
                  for spec in FIELDS}
        return cls(project_dir=Path(data["project_dir"]), sources=data.get("sources", {}),
                   **values)  # type: ignore[arg-type]  # each value parsed by its own field spec


def normalize_project_name(name: str) -> str:
    """Compose's rule: lowercase, only [a-z0-9_-], starting with a letter or digit."""
    cleaned = re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")
    return cleaned or "envctl"


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib  # noqa: PLC0415  # only the config path pays for it
    else:
        import tomli as tomllib  # noqa: PLC0415
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
            return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", hint="fix the syntax") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start}): TOML files are UTF-8",
                          hint="save the file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def nearest_setting(name: str) -> str:
    """A hint naming the known setting closest to a misspelt ``name``, or where the list is."""
    import difflib  # noqa: PLC0415  # only a misspelt name pays for it

    close = difflib.get_close_matches(name.replace("-", "_").lower(), FIELDS_BY_NAME, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else "`envctl config` lists every setting"


def _apply(layer: Mapping[str, object], source: str, values: dict[str, object],
           sources: dict[str, str], *, key_style: str) -> None:
    # A bad value given as a flag is a usage error (exit 10), one in a file or variable a
    # configuration error (exit 11), whichever setting it is.
    error = UsageError if key_style == "flag" else ConfigError
    for raw_key, raw in layer.items():
        name = raw_key.replace("-", "_")
        spec = FIELDS_BY_NAME.get(name)
        if spec is None:
            raise error(f"{source}: unknown setting {raw_key!r}", hint=nearest_setting(raw_key))
        try:
            values[name] = spec.parse(raw)
        except ValueError as exc:
            shown = spec.env if key_style == "env" else raw_key
            text = repr(raw)
            text = text if len(text) <= 60 else f"{text[:40]}...({len(text)} characters)"
            raise error(f"{source}: {shown} = {text}: {exc}") from None
        sources[name] = source


def load_settings(project_dir: Path | None = None, *, flags: Mapping[str, object] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve settings for ``project_dir`` (default: the working directory)."""
    environ = os.environ if environ is None else environ
    if project_dir is None:
        project_dir = Path(environ.get("ENVCTL_PROJECT_DIR") or Path.cwd())
    project_dir = project_dir.resolve()
    if not project_dir.is_dir():  # a settings file cannot be there: defaults would mislead
        raise UsageError(f"{project_dir}: no such project directory", hint="check -C or ENVCTL_PROJECT_DIR")
    values: dict[str, object] = {f.name: f.default for f in FIELDS}
    sources: dict[str, str] = {f.name: "default" for f in FIELDS}

    pyproject = project_dir / "pyproject.toml"
    if pyproject.is_file():
        tool = _read_toml(pyproject).get("tool", {})
        section = tool.get("envctl", {}) if isinstance(tool, dict) else {}
        if not isinstance(section, dict):
            raise ConfigError(f"{pyproject}: [tool.envctl] must be a table")
        _apply(section, f"{pyproject} [tool.envctl]", values, sources, key_style="toml")

    envctl_toml = project_dir / "envctl.toml"
    if envctl_toml.is_file():
        _apply(_read_toml(envctl_toml), str(envctl_toml), values, sources, key_style="toml")

    from_env: dict[str, object] = {}
    for key, text in environ.items():
        if not key.startswith(ENV_PREFIX) or key.startswith(_ENV_NOT_SETTINGS):
            continue
        if key in _ENV_NOT_SETTINGS_NAMES or is_address_variable(key):
            continue  # what envctl hands its hooks and `envctl env` prints, not settings
        name = key[len(ENV_PREFIX):].lower()
        if name not in FIELDS_BY_NAME:
            import difflib  # noqa: PLC0415  # see nearest_setting

            close = difflib.get_close_matches(name, FIELDS_BY_NAME, n=1, cutoff=0.6)
            raise ConfigError(f"environment: unknown variable {key}",
                              hint=f"did you mean {FIELDS_BY_NAME[close[0]].env}?" if close
                              else "unset it; `envctl config` lists every setting")
        from_env[name] = text
    for name, env_value in from_env.items():
        _apply({name: env_value}, f"env {FIELDS_BY_NAME[name].env}", values, sources, key_style="env")

    for name, flag_value in (flags or {}).items():
        if flag_value is None:
            continue
        _apply({name: flag_value}, f"flag --{name.replace('_', '-')}", values, sources, key_style="flag")

    return Settings(project_dir=project_dir, sources=sources, **values)  # type: ignore[arg-type]  # values parsed per field above
