"""What each setting's value may be: the parsers and checks behind ``settings.FIELDS``.

Every parser takes what a file, a variable or a flag gave (a string, a number, a list, a table)
and returns the typed value, or raises ValueError saying what is wrong with it.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from envctl.units import MAX_DURATION, parse_duration, parse_size

# Matched whole (fullmatch): "$" would let a trailing newline through ("test\n").
PROJECT_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*", re.ASCII)
SERVICE_NAME_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", re.ASCII)
LOG_FORMATS = ("auto", "console", "json")
INJECT_MODES = ("auto", "off")

_MIN_MEMORY = 6 << 20  # Docker refuses a memory limit below 6 MiB


def str_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(p for p in value.split(os.pathsep) if p) if value else ()
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError("expected a list of paths")


# The ways a test service can reach the host that `allow` lets through (envctl.docker.unsafe
# finds them). privileged, docker-socket and host-network/pid/ipc are the first names, unchanged.
UNSAFE = ("privileged", "docker-socket", "host-root-mount", "host-system-mount", "host-network",
          "host-pid", "host-ipc", "host-userns", "host-cgroup", "host-uts", "capabilities", "devices",
          "security-opt", "shared-namespace", "volumes-from")


def allow(value: object) -> tuple[str, ...]:
    names = tuple(p for p in value.replace(",", " ").split() if p) if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"expected a list of: {', '.join(UNSAFE)}")
    unknown = [n for n in names if n not in UNSAFE]
    if unknown:
        raise ValueError(f"unknown {', '.join(map(repr, unknown))}; known: {', '.join(UNSAFE)}")
    return tuple(names)


_PROFILE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*|\*", re.ASCII)  # compose's profile names


def names(value: object, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    """A list of names (TOML) or a comma- or space-separated string (a variable), each matching."""
    names = tuple(p for p in value.replace(",", " ").split() if p) if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and pattern.fullmatch(n)
                                                       for n in names):
        raise ValueError(f"expected a list of {what}")
    return tuple(names)


def profiles(value: object) -> tuple[str, ...]:
    return names(value, _PROFILE, "compose profile names (letters, digits, _ . -)")


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


def waits(value: object) -> tuple[ServiceWait, ...]:
    """``{service: {port, http, log, timeout}}`` (TOML tables, or JSON in ENVCTL_WAIT), or the
    list a background process gets back from ``to_json``."""
    import json  # noqa: PLC0415

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError('expected JSON such as {"cache": {"port": 6379}}') from None
    if isinstance(value, (list, tuple)):
        tables = [dict_of(item) for item in value]
        value = {str(t.get("service")): {k: v for k, v in t.items() if k != "service"} for t in tables}
    if not isinstance(value, dict):
        raise ValueError("expected a table per service, such as [wait.cache] with port = 6379")
    return tuple(service_wait(str(service), spec) for service, spec in value.items())


def dict_of(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ValueError("expected a table per service")
    return value


_HTTP_PATH = re.compile(r"/[\x21-\x7e]*")  # what an HTTP request line can carry as is


def service_wait(service: str, spec: object) -> ServiceWait:
    table = dict_of(spec)
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


def variables(value: object) -> tuple[str, ...]:
    return names(value, _VARIABLE, "environment variable names")


def command(value: object) -> tuple[str, ...]:
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


def optional_command(value: object) -> tuple[str, ...]:
    """A command that may be left out: empty (``""`` or ``[]``) is none."""
    if value in ([], ()) or (isinstance(value, str) and not value.strip()):
        return ()
    return command(value)


def optional_project_name(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not PROJECT_NAME_PATTERN.fullmatch(value):
        raise ValueError(
            "a project name is lowercase letters, digits, '-' and '_', starting with a letter or digit"
        )
    return value


def service(value: object) -> str:
    if not isinstance(value, str) or not SERVICE_NAME_PATTERN.fullmatch(value):
        raise ValueError("a service name is letters, digits, '.', '-' and '_'")
    return value


def positive_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be more than zero")
    return seconds


def memory(value: object) -> int:
    size = parse_size(value)
    if size < _MIN_MEMORY:
        raise ValueError("Docker needs at least 6m")
    return size


MAX_CPUS = 4096.0
MAX_INT = 1 << 31


def cpus(value: object) -> float:
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


def positive_int(value: object) -> int:
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


def path(value: object) -> Path:
    if not isinstance(value, (str, Path)) or str(value) == "":
        raise ValueError("expected a path")
    return Path(value).expanduser()


def optional_path(value: object) -> Path | None:
    """A path that may be left out: empty is none (the setting's own default place)."""
    return None if value is None or value == "" else path(value)


def inject(value: object) -> str:
    if value not in INJECT_MODES:
        raise ValueError(f"expected one of {', '.join(INJECT_MODES)}")
    return str(value)


WAIT_PROBES = ("auto", "host", "network")


def wait_probe(value: object) -> str:
    if value not in WAIT_PROBES:
        raise ValueError(f"expected one of {', '.join(WAIT_PROBES)}")
    return str(value)


def log_format(value: object) -> str:
    if value not in LOG_FORMATS:
        raise ValueError(f"expected one of {', '.join(LOG_FORMATS)}")
    return str(value)




SAMPLING_MAX = 3600.0  # seconds: resource_watch.INTERVAL_MAX (settings import nothing of runs/)


def sampling(value: object) -> float:
    """Seconds between two resource samples: 0 (off) to an hour."""
    seconds = parse_duration(value)
    if seconds > SAMPLING_MAX:
        raise ValueError(f"at most {SAMPLING_MAX:g}s (an hour); 0 turns sampling off")
    return seconds


_ENGINE = re.compile(r"(?P<name>[^\s,=]+?)(?:=(?P<cpus>[0-9]+))?", re.ASCII)


def engines(value: object) -> tuple[str, ...]:
    """Engines the shards of `test --shards` go to: docker context names or DOCKER_HOST-style
    addresses, each optionally ``=CPUS`` (its weight instead of the CPUs the engine reports); a
    list (TOML) or a comma- or space-separated string (a variable)."""
    items = tuple(p for p in value.replace(",", " ").split() if p) if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) and _ENGINE.fullmatch(i)
                                                       for i in items):
        raise ValueError("expected a list of docker contexts or engine addresses, each optionally "
                         "=CPUS (e.g. [\"default\", \"ssh://ci@build-box=16\"])")
    found = [_ENGINE.fullmatch(i) for i in items]
    if any(m is not None and m["cpus"] is not None and int(m["cpus"]) < 1 for m in found):
        raise ValueError("an engine's CPUs are at least 1")
    names = [m["name"] for m in found if m is not None]
    if len(set(names)) != len(names):
        raise ValueError("an engine is named twice")
    return tuple(items)


def engine_entry(entry: str) -> tuple[str, int | None]:
    """(name, CPUs given or None) of one ``engines`` entry (already checked by ``engines``)."""
    match = _ENGINE.fullmatch(entry)
    if match is None:
        raise ValueError(f"not an engine: {entry!r}")
    return match["name"], int(match["cpus"]) if match["cpus"] is not None else None
