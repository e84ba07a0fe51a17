"""Typed views of the Docker JSON envctl reads, parsed where it enters; unknown keys are ignored."""

from __future__ import annotations

import calendar
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from envctl.docker import labels as label_names
from envctl.docker import unsafe as unsafe_ways


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _engine_time(value: object) -> float | None:
    """The engine's RFC 3339 time ("2026-11-23T19:20:01.123456789Z") as a Unix time; None for
    its zero time ("0001-01-01T00:00:00Z": never happened) or anything unreadable."""
    if not isinstance(value, str) or len(value) < 20 or value.startswith("0001-"):
        return None
    try:
        whole = calendar.timegm(time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    rest = value[19:]
    fraction = 0.0
    if rest.startswith("."):
        digits = rest[1:].rstrip("Z").split("+")[0].split("-")[0]
        fraction = float(f"0.{digits}") if digits.isdigit() else 0.0
    return whole + fraction


@dataclass(frozen=True)
class HealthProbe:
    """One health-check attempt: its exit code and what it printed."""

    exit_code: int
    output: str


@dataclass(frozen=True)
class ContainerState:
    """What envctl needs to know of one container, from ``docker inspect``."""

    id: str
    name: str
    service: str
    status: str  # created, running, restarting, exited, dead, paused, removing
    exit_code: int
    oom_killed: bool
    health: str | None  # starting, healthy, unhealthy; None without a healthcheck
    restart_count: int
    error: str
    health_log: tuple[HealthProbe, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    has_healthcheck: bool = False
    restart_policy: str = ""
    started: bool = False  # the engine started it at least once (StartedAt is set)
    started_at: float | None = None  # when it last started
    finished_at: float | None = None  # when it last exited, if it has

    @property
    def ended(self) -> bool:
        """It ran and has exited: only then is ``exit_code`` the process's own."""
        return self.started and self.status in ("exited", "dead")

    @classmethod
    def from_inspect(cls, data: dict[str, Any]) -> ContainerState:
        state = _dict(data.get("State"))
        config = _dict(data.get("Config"))
        labels = {str(k): str(v) for k, v in _dict(config.get("Labels")).items()}
        health = _dict(state.get("Health"))
        probes = tuple(
            HealthProbe(int(p.get("ExitCode", -1)), str(p.get("Output", "")).strip())
            for p in health.get("Log") or []
            if isinstance(p, dict)
        )
        healthcheck = _dict(config.get("Healthcheck"))
        has_healthcheck = bool(healthcheck.get("Test")) and healthcheck.get("Test") != ["NONE"]
        host_config = _dict(data.get("HostConfig"))
        return cls(
            id=str(data.get("Id", "")),
            name=str(data.get("Name", "")).lstrip("/"),
            service=labels.get(label_names.COMPOSE_SERVICE, ""),
            status=str(state.get("Status", "unknown")),
            exit_code=int(state.get("ExitCode") or 0),
            oom_killed=bool(state.get("OOMKilled")),
            health=str(health["Status"]) if health.get("Status") else None,
            restart_count=int(data.get("RestartCount") or 0),
            error=str(state.get("Error") or ""),
            health_log=probes,
            labels=labels,
            has_healthcheck=has_healthcheck,
            restart_policy=str(_dict(host_config.get("RestartPolicy")).get("Name") or ""),
            started=_engine_time(state.get("StartedAt")) is not None,
            started_at=_engine_time(state.get("StartedAt")),
            finished_at=_engine_time(state.get("FinishedAt")),
        )


@dataclass(frozen=True)
class EngineInfo:
    """Identity of the engine envctl talks to."""

    version: str
    api_version: str
    os: str
    arch: str

    @classmethod
    def from_version(cls, data: dict[str, Any]) -> EngineInfo:
        return cls(
            version=str(data.get("Version", "?")),
            api_version=str(data.get("ApiVersion", "?")),
            os=str(data.get("Os", "?")),
            arch=str(data.get("Arch", "?")),
        )


@dataclass(frozen=True)
class ContainerEvent:
    """One engine event about a container, as the health wait needs it."""

    action: str  # start, die, oom, restart, health_status, destroy, ...
    container_id: str
    service: str
    attributes: dict[str, str]
    time_nano: int

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> ContainerEvent | None:
        if data.get("Type") != "container":
            return None
        actor = _dict(data.get("Actor"))
        attributes = {str(k): str(v) for k, v in _dict(actor.get("Attributes")).items()}
        action = str(data.get("Action") or data.get("status") or "")
        return cls(
            action=action.split(":", 1)[0].strip(),
            container_id=str(actor.get("ID") or data.get("id") or ""),
            service=attributes.get(label_names.COMPOSE_SERVICE, ""),
            attributes=attributes,
            time_nano=int(data.get("timeNano") or 0),
        )

    @property
    def health_status(self) -> str | None:
        """For ``health_status: healthy`` events, the status after the colon."""
        return self.attributes.get("health_status")


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the resolved compose configuration."""

    name: str
    image: str | None
    build_context: str | None
    dockerfile: str | None
    has_healthcheck: bool
    restart: str
    depends_on: dict[str, str]  # service -> condition
    ports: tuple[str, ...]
    working_dir: str | None = None
    binds: tuple[tuple[str, str], ...] = ()  # (host source, container target) of bind mounts
    writable_binds: tuple[str, ...] = ()  # the host sources of those not mounted read-only
    # What would hand the host to this service's container, each way with the compose key that
    # does it: (name, key) pairs, the names those of the `allow` setting (``docker.unsafe``).
    unsafe: tuple[tuple[str, str], ...] = ()
    profiles: tuple[str, ...] = ()  # none: the service is always active
    environment: frozenset[str] = frozenset()  # which of READ_VARIABLES it sets (env files too)

    def active(self, profiles: Iterable[str]) -> bool:
        """Whether compose starts it under ``profiles`` (as `up` with no service named does)."""
        wanted = set(profiles)
        return not self.profiles or "*" in wanted or bool(wanted.intersection(self.profiles))

    @classmethod
    def from_config(cls, name: str, data: dict[str, Any],
                    unsafe: tuple[tuple[str, str], ...] | None = None,
                    writable: tuple[str, ...] | None = None) -> ServiceSpec:
        """One service; ``unsafe`` and ``writable`` (``writable_folders``) as its project found
        them (None: from this service alone)."""
        build = data.get("build")
        context = dockerfile = None
        if isinstance(build, dict):
            context = str(build.get("context")) if build.get("context") else None
            dockerfile = str(build.get("dockerfile")) if build.get("dockerfile") else None
        elif isinstance(build, str):
            context = build
        health = _dict(data.get("healthcheck"))
        test = health.get("test")
        has_healthcheck = bool(test) and not health.get("disable") and test != ["NONE"]
        depends = data.get("depends_on") or {}
        if isinstance(depends, list):
            depends_on = {str(d): "service_started" for d in depends}
        else:
            depends_on = {
                str(k): str(_dict(v).get("condition", "service_started")) for k, v in depends.items()
            }
        ports = tuple(
            str(p.get("published", "")) if isinstance(p, dict) else str(p)
            for p in data.get("ports") or []
        )
        return cls(
            name=name,
            image=str(data["image"]) if data.get("image") else None,
            build_context=context,
            dockerfile=dockerfile,
            has_healthcheck=has_healthcheck,
            restart=str(data.get("restart") or "no"),
            depends_on=depends_on,
            ports=ports,
            working_dir=str(data["working_dir"]) if isinstance(data.get("working_dir"), str) else None,
            profiles=tuple(str(p) for p in data.get("profiles") or [] if isinstance(p, str)),
            binds=tuple((str(v["source"]), str(v["target"])) for v in data.get("volumes") or []
                        if isinstance(v, dict) and v.get("type") == "bind"
                        and isinstance(v.get("source"), str) and isinstance(v.get("target"), str)),
            writable_binds=writable if writable is not None else writable_folders({name: data}, name),
            unsafe=unsafe if unsafe is not None else
            unsafe_ways.project_findings({name: data}, sockets=engine_sockets())[name],
            environment=_variable_names(data.get("environment")) & READ_VARIABLES,
        )


def writable_folders(services: Mapping[str, Any], name: str, volumes: Mapping[str, Any] | None = None,
                     trail: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The host folders service ``name``'s container can write: its bind mounts not read-only,
    the folders its bind-type named volumes bind (``volumes``: the top-level ones), and those of
    the services it takes `volumes_from` without `:ro` (followed through them). A container
    outside the project (``container:NAME``) is not seen: ``docker.unsafe`` refuses it."""
    data = _dict(services.get(name))
    found: list[str] = []
    for volume in data.get("volumes") or []:
        source, kind, read_only = _mount(volume)
        if source is None or read_only:
            continue
        path = source if kind == "bind" else unsafe_ways.bind_device(_dict(volumes).get(source)) \
            if kind == "volume" else None
        if path is not None:
            found.append(path)
    for entry in data.get("volumes_from") or []:
        other, _sep, mode = str(entry).partition(":")
        if other != "container" and other in services and other not in trail and mode != "ro":
            found += writable_folders(services, other, volumes, trail | {name})
    return tuple(dict.fromkeys(found))


def _mount(volume: object) -> tuple[str | None, str | None, bool]:
    """(source, type, read-only) of a service's volume: compose config's long form, or the short
    ``SOURCE:TARGET[:MODE]`` (a host path starts with `/` or `.`)."""
    if isinstance(volume, str):
        parts = volume.split(":")
        kind = "bind" if parts[0].startswith(("/", ".")) else "volume"
        return parts[0], kind, len(parts) > 2 and "ro" in parts[2].split(",")
    if not isinstance(volume, dict) or not isinstance(volume.get("source"), str):
        return None, None, False
    return str(volume["source"]), str(volume.get("type")), volume.get("read_only") is True


def _variable_names(environment: object) -> frozenset[str]:
    """The names a service's ``environment`` sets: a mapping, or ``KEY=value`` strings."""
    if isinstance(environment, dict):
        return frozenset(str(key) for key in environment)
    if isinstance(environment, list):
        return frozenset(str(item).split("=", 1)[0] for item in environment)
    return frozenset()


def engine_sockets(docker_host: str | None = None) -> tuple[str, ...]:
    """The engine sockets a bind mount of the test service must not reach: the run's engine's
    (``docker_host``: the engine a run was placed on; None: DOCKER_HOST as it is now) and this
    process's DOCKER_HOST's, with XDG_RUNTIME_DIR's (not cached: the cache key does not cover
    them all)."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    here = unsafe_ways.engine_sockets(os.environ.get("DOCKER_HOST", ""), runtime_dir)
    if docker_host is None:
        return here
    return tuple(dict.fromkeys([*unsafe_ways.engine_sockets(docker_host, runtime_dir), *here]))


# The keys of a service that envctl reads. The configuration is cached on disk with these only:
# `docker compose config` expands every environment value (passwords, tokens) into its output.
# What docker.unsafe looks at is kept too (flags and host paths: no secret in them).
_SERVICE_KEYS = ("image", "build", "healthcheck", "restart", "depends_on", "ports", "working_dir",
                 "volumes", "privileged", "network_mode", "pid", "ipc", "profiles", "volumes_from",
                 "cap_add", "devices", "device_cgroup_rules", "security_opt", "userns_mode", "cgroup",
                 "uts")


# The service variables envctl looks at (whether the user set them), by name only.
READ_VARIABLES = frozenset({"PYTEST_XDIST_AUTO_NUM_WORKERS"})


def reduce_config(data: dict[str, Any]) -> dict[str, Any]:
    """``docker compose config`` JSON with only what envctl reads: of the environment only
    whether READ_VARIABLES are set (never a value: no secrets)."""
    services = {}
    for name, raw in _dict(data.get("services")).items():
        spec = _dict(raw)
        kept = {key: spec[key] for key in _SERVICE_KEYS if key in spec}
        names = _variable_names(spec.get("environment")) & READ_VARIABLES
        if names:
            kept["environment"] = sorted(names)
        build = kept.get("build")
        if isinstance(build, dict):  # build args can carry secrets too
            kept["build"] = {k: build[k] for k in ("context", "dockerfile") if k in build}
        for key in _FILE_KEYS:  # which top-level ones it takes: their names only
            entries = spec.get(key)
            sources = [_source(e) for e in entries if _source(e)] if isinstance(entries, list) else []
            if sources:
                kept[key] = sources
        services[str(name)] = kept
    return {"name": data.get("name", ""), "services": services,
            "networks": {str(n): {"external": bool(_dict(s).get("external"))}
                         for n, s in _dict(data.get("networks")).items()},
            "volumes": {str(v): _reduced_volume(s) for v, s in _dict(data.get("volumes")).items()},
            # Of a top-level secret or config only the host file it is read from: never its
            # `environment` or `content` (the value itself).
            **{key: files for key in _FILE_KEYS if (files := _reduced_files(data.get(key)))}}


_FILE_KEYS = ("secrets", "configs")  # compose bind-mounts each one that has a `file`


def _reduced_files(specs: object) -> dict[str, Any]:
    return {str(name): {"file": path} for name, spec in _dict(specs).items()
            if (path := unsafe_ways.source_file(spec)) is not None}


def _source(entry: object) -> str:
    """The top-level name a service's `secrets`/`configs` entry takes (short or long form)."""
    source = entry.get("source") if isinstance(entry, dict) else entry
    return source if isinstance(source, str) else ""


def _reduced_volume(spec: object) -> dict[str, Any]:
    """A top-level volume: whether it is external and, for a bind-type one, the host folder it
    binds (of its driver options only that: a CIFS volume's carry a password)."""
    device = unsafe_ways.bind_device(spec)
    return {"external": bool(_dict(spec).get("external")), **({"device": device} if device else {})}


@dataclass(frozen=True)
class ResourceSpec:
    """A top-level network or volume of the compose configuration."""

    name: str
    external: bool

    @classmethod
    def from_config(cls, name: str, data: object) -> ResourceSpec:
        return cls(name=name, external=bool(_dict(data).get("external")))


@dataclass(frozen=True)
class ComposeProject:
    """The resolved compose configuration (``docker compose config``)."""

    name: str
    services: dict[str, ServiceSpec]
    networks: dict[str, ResourceSpec] = field(default_factory=dict)
    volumes: dict[str, ResourceSpec] = field(default_factory=dict)

    @classmethod
    def from_config(cls, data: dict[str, Any], *, docker_host: str | None = None) -> ComposeProject:
        """The configuration, each service judged for the ways it hands the host over; an engine
        socket is looked for at ``docker_host``'s too (the engine the project runs on, when it is
        not this process's)."""
        raw = {str(name): _dict(spec) for name, spec in _dict(data.get("services")).items()}
        unsafe = unsafe_ways.project_findings(raw, sockets=engine_sockets(docker_host),
                                              volumes=_dict(data.get("volumes")),
                                              secrets=_dict(data.get("secrets")),
                                              configs=_dict(data.get("configs")))
        volumes_data = _dict(data.get("volumes"))
        services = {name: ServiceSpec.from_config(name, spec, unsafe[name],
                                                  writable_folders(raw, name, volumes_data))
                    for name, spec in raw.items()}
        networks = {str(n): ResourceSpec.from_config(str(n), spec)
                    for n, spec in _dict(data.get("networks")).items()}
        volumes = {str(v): ResourceSpec.from_config(str(v), spec)
                   for v, spec in _dict(data.get("volumes")).items()}
        return cls(name=str(data.get("name", "")), services=services, networks=networks,
                   volumes=volumes)
