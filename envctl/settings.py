"""One frozen settings model, resolved from five layers.

Precedence, lowest first: defaults < ``[tool.envctl]`` in pyproject.toml < envctl.toml <
``ENVCTL_*`` environment variables < command-line flags. Every field is declared once in
``FIELDS`` with its default, its variable and its help; ``envctl config`` prints the resolved
values and the layer each came from. The environment is read when ``load_settings`` is called,
never at import.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from envctl.errors import ConfigError, UsageError
from envctl.units import MAX_DURATION, parse_duration, parse_size

ENV_PREFIX = "ENVCTL_"
# Variables under these prefixes belong to the setup scripts and the test suite, not to settings.
_ENV_NOT_SETTINGS = ("ENVCTL_SETUP_", "ENVCTL_BENCH_", "ENVCTL_CI_")
_ENV_NOT_SETTINGS_NAMES = frozenset({"ENVCTL_PROJECT_DIR"})
# Matched whole (fullmatch): "$" would let a trailing newline through ("test\n").
PROJECT_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*", re.ASCII)
SERVICE_NAME_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", re.ASCII)
LOG_FORMATS = ("auto", "console", "json")
INJECT_MODES = ("auto", "off")
_MIN_MEMORY = 6 << 20  # Docker refuses a memory limit below 6 MiB


def _str_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(p for p in value.split(os.pathsep) if p) if value else ()
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError("expected a list of paths")


UNSAFE = ("privileged", "docker-socket", "host-network", "host-pid", "host-ipc")


def _allow(value: object) -> tuple[str, ...]:
    names = tuple(p for p in value.replace(",", " ").split() if p) if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"expected a list of: {', '.join(UNSAFE)}")
    unknown = [n for n in names if n not in UNSAFE]
    if unknown:
        raise ValueError(f"unknown {', '.join(map(repr, unknown))}; known: {', '.join(UNSAFE)}")
    return tuple(names)


_PROFILE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*|\*", re.ASCII)  # compose's profile names


def _names(value: object, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    """A list of names (TOML) or a comma- or space-separated string (a variable), each matching."""
    names = tuple(p for p in value.replace(",", " ").split() if p) if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and pattern.fullmatch(n)
                                                       for n in names):
        raise ValueError(f"expected a list of {what}")
    return tuple(names)


def _profiles(value: object) -> tuple[str, ...]:
    return _names(value, _PROFILE, "compose profile names (letters, digits, _ . -)")


@dataclass(frozen=True)
class ServiceWait:
    """When a service with no health check (or more than one) counts as ready: it accepts TCP
    connections on ``port``; GET ``http`` on that port answers 2xx or 3xx; a line of its output
    matches ``log``. Each within ``timeout`` seconds (0: the health_timeout)."""

    service: str
    port: int | None = None
    http: str | None = None
    log: str | None = None
    timeout: float = 0.0

    def describe(self) -> str:
        parts = [f"port {self.port}" if self.port and not self.http else "",
                 f"HTTP GET :{self.port}{self.http} answering 2xx/3xx" if self.http else "",
                 f"a log line matching {self.log!r}" if self.log else ""]
        return " and ".join(p for p in parts if p)


_WAIT_KEYS = ("port", "http", "log", "timeout")


def _waits(value: object) -> tuple[ServiceWait, ...]:
    """``{service: {port, http, log, timeout}}`` (TOML tables, or JSON in ENVCTL_WAIT), or the
    list a background process gets back from ``to_json``."""
    import json  # noqa: PLC0415

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError('expected JSON such as {"cache": {"port": 6379}}') from None
    if isinstance(value, (list, tuple)):
        tables = [_dict_of(item) for item in value]
        value = {str(t.get("service")): {k: v for k, v in t.items() if k != "service"} for t in tables}
    if not isinstance(value, dict):
        raise ValueError("expected a table per service, such as [wait.cache] with port = 6379")
    return tuple(_service_wait(str(service), spec) for service, spec in value.items())


def _dict_of(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ValueError("expected a table per service")
    return value


_HTTP_PATH = re.compile(r"/[\x21-\x7e]*")  # what an HTTP request line can carry as is


def _service_wait(service: str, spec: object) -> ServiceWait:
    table = _dict_of(spec)
    unknown = [k for k in table if k not in _WAIT_KEYS]
    if unknown:
        raise ValueError(f"{service}: unknown key {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(_WAIT_KEYS)}")
    port, http, log = table.get("port"), table.get("http"), table.get("log")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise ValueError(f"{service}: port must be a number from 1 to 65535")
    if http is not None and (not isinstance(http, str) or not _HTTP_PATH.fullmatch(http) or port is None):
        raise ValueError(f"{service}: http is a path such as \"/health\" (no spaces), with port set")
    if log is not None:
        if not isinstance(log, str) or not log:
            raise ValueError(f"{service}: log is a regular expression")
        try:
            re.compile(log)
        except re.error as exc:
            raise ValueError(f"{service}: log {log!r} is not a regular expression: {exc}") from None
    if port is None and log is None:
        raise ValueError(f"{service}: give port (with http, optionally) or log")
    timeout = parse_duration(table["timeout"]) if table.get("timeout") is not None else 0.0
    if not 0 <= timeout <= MAX_DURATION:
        raise ValueError(f"{service}: timeout out of range")
    return ServiceWait(service, port, http, log, timeout)


_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def _variables(value: object) -> tuple[str, ...]:
    return _names(value, _VARIABLE, "environment variable names")


def _command(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split into arguments: {exc}") from None
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        argv = list(value)
    else:
        raise ValueError("expected a command, as a string or a list of arguments")
    if not argv:
        raise ValueError("the command is empty")
    return tuple(argv)


def _optional_project_name(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not PROJECT_NAME_PATTERN.fullmatch(value):
        raise ValueError(
            "a project name is lowercase letters, digits, '-' and '_', starting with a letter or digit"
        )
    return value


def _service(value: object) -> str:
    if not isinstance(value, str) or not SERVICE_NAME_PATTERN.fullmatch(value):
        raise ValueError("a service name is letters, digits, '.', '-' and '_'")
    return value


def _positive_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be more than zero")
    return seconds


def _memory(value: object) -> int:
    size = parse_size(value)
    if size < _MIN_MEMORY:
        raise ValueError("Docker needs at least 6m")
    return size


MAX_CPUS = 4096.0
MAX_INT = 1 << 31


def _cpus(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number of CPUs such as 2 or 0.5")
    try:
        cpus = float(value)  # type: ignore[arg-type]  # str/int/float; anything else raises
    except (TypeError, ValueError):
        raise ValueError("expected a number of CPUs such as 2 or 0.5") from None
    if not cpus > 0:
        raise ValueError("must be more than zero")
    if not math.isfinite(cpus) or cpus > MAX_CPUS:
        raise ValueError(f"at most {MAX_CPUS:g} CPUs")
    return cpus


def _positive_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int):
        raise ValueError("expected a whole number")
    if value < 1:
        raise ValueError("must be at least 1")
    if value > MAX_INT:
        raise ValueError(f"at most {MAX_INT}")  # a 400-digit number is a typo, and no JSON reader takes it
    return value


def _path(value: object) -> Path:
    if not isinstance(value, (str, Path)) or str(value) == "":
        raise ValueError("expected a path")
    return Path(value).expanduser()


def _inject(value: object) -> str:
    if value not in INJECT_MODES:
        raise ValueError(f"expected one of {', '.join(INJECT_MODES)}")
    return str(value)


WAIT_PROBES = ("auto", "host", "network")


def _wait_probe(value: object) -> str:
    if value not in WAIT_PROBES:
        raise ValueError(f"expected one of {', '.join(WAIT_PROBES)}")
    return str(value)


def _log_format(value: object) -> str:
    if value not in LOG_FORMATS:
        raise ValueError(f"expected one of {', '.join(LOG_FORMATS)}")
    return str(value)


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
    FieldSpec("compose_files", (), _str_list,
              "Compose files, in order. Empty: compose's own names in the project dir "
              "(compose.yaml, docker-compose.yml, ...), then compose/compose.yaml. "
              "In ENVCTL_COMPOSE_FILES, separate them with ':'."),
    FieldSpec("project_name", None, _optional_project_name,
              "Compose project name. Empty: the project directory's name, normalized as compose does."),
    FieldSpec("test_service", "test", _service, "The compose service that runs the tests."),
    FieldSpec("test_command", ("pytest",), _command,
              "The test command run in the test service; pytest arguments are appended."),
    FieldSpec("health_timeout", 180.0, _positive_duration,
              "How long `up` waits for every service to be ready (e.g. 90s, 5m)."),
    FieldSpec("memory", 2 << 30, _memory, "Memory limit of the test container (e.g. 512m, 2g)."),
    FieldSpec("cpus", 2.0, _cpus, "CPU limit of the test container."),
    FieldSpec("pids", 1024, _positive_int, "Process limit of the test container."),
    FieldSpec("log_dir", Path(".envctl/runs"), _path,
              "Where run records go; relative paths are under the project directory."),
    FieldSpec("durations_file", Path(".envctl/durations.json"), _path,
              "Recorded test durations that shard splits balance on; `report merge` writes it."),
    FieldSpec("keep_runs", 20, _positive_int, "How many finished runs rotation keeps."),
    FieldSpec("max_age", 14 * 86400.0, _positive_duration, "Runs older than this are removed (e.g. 14d)."),
    FieldSpec("max_log_size", 200 << 20, parse_size,
              "Cap on each run's output log; the rest is cut, and the log says so (e.g. 200m)."),
    FieldSpec("run_timeout", 0.0, parse_duration,
              "Default timeout of a test run; 0 means none. Enforced inside the container."),
    FieldSpec("docker_timeout", 60.0, _positive_duration,
              "Deadline of each single Docker call (not of waits, which have their own)."),
    FieldSpec("heartbeat", 60.0, _positive_duration,
              "In `wait --ci`, the longest silence between two progress lines."),
    FieldSpec("inject_plugin", "auto", _inject,
              "Mount envctl's progress plugin and runner into the test container: auto (when the "
              "engine is local) or off (progress parsed from pytest's output; JUnit copied out)."),
    FieldSpec("log_format", "auto", _log_format,
              "envctl's own log lines: auto (console on a TTY, JSON otherwise), console or json."),
    FieldSpec("allow", (), _allow,
              "What the test service may do that hands it the host, refused otherwise: privileged, "
              "docker-socket, host-network, host-pid, host-ipc."),
    FieldSpec("profiles", (), _profiles,
              "Compose profiles to activate, besides COMPOSE_PROFILES (as `docker compose --profile`)."),
    FieldSpec("env_files", (), _str_list,
              "Files of variables for compose to interpolate, instead of the project's .env (as "
              "`docker compose --env-file`); relative to the project directory."),
    FieldSpec("wait", (), _waits,
              "Readiness for services with no health check: [wait.SERVICE] with port = N, "
              "http = \"/path\" (with port), log = \"regex\", timeout = \"30s\"."),
    FieldSpec("wait_probe", "auto", _wait_probe,
              "Where port and http waits are tried from: host (this machine: a published port, or "
              "the container's address on a local Linux engine), network (a short-lived container "
              "of the test service's image in the service's own network namespace), or auto (host "
              "when it has an address, else network: Docker Desktop, remote engines)."),
    FieldSpec("secrets", (), _variables,
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
    health_timeout: float = 180.0
    memory: int = 2 << 30
    cpus: float = 2.0
    pids: int = 1024
    log_dir: Path = Path(".envctl/runs")
    durations_file: Path = Path(".envctl/durations.json")
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
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def resolved_log_dir(self) -> Path:
        return self.log_dir if self.log_dir.is_absolute() else self.project_dir / self.log_dir

    @property
    def resolved_durations_file(self) -> Path:
        path = self.durations_file
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
        if key in _ENV_NOT_SETTINGS_NAMES:
            continue
        name = key[len(ENV_PREFIX):].lower()
        if name not in FIELDS_BY_NAME:
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
