"""What in a compose project would hand the test container the host: each way named (the names
the `allow` setting takes, ``setting_values.UNSAFE``) with the compose key that does it.

Logic on `docker compose config` JSON, whole or reduced (``models.reduce_config``), and for a
bind source, where its links lead on this machine (``mount_name``). Some ways need the whole
project: `volumes_from` another service, a namespace shared with one.
Where envctl cannot see what is shared (``container:NAME``, outside the project), it refuses.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

PRIVILEGED = "privileged"
DOCKER_SOCKET = "docker-socket"  # an engine's socket, or a folder holding one
HOST_ROOT_MOUNT = "host-root-mount"  # the host's `/`
HOST_SYSTEM_MOUNT = "host-system-mount"  # /proc, /sys, /etc, /dev, /var/lib/docker...
HOST_NETWORK = "host-network"
HOST_PID = "host-pid"
HOST_IPC = "host-ipc"
HOST_USERNS = "host-userns"
HOST_CGROUP = "host-cgroup"
HOST_UTS = "host-uts"
CAPABILITIES = "capabilities"
DEVICES = "devices"
SECURITY_OPT = "security-opt"
SHARED_NAMESPACE = "shared-namespace"  # a namespace of a container envctl cannot check
VOLUMES_FROM = "volumes-from"  # the volumes of a container envctl cannot check
NAMES = (PRIVILEGED, DOCKER_SOCKET, HOST_ROOT_MOUNT, HOST_SYSTEM_MOUNT, HOST_NETWORK, HOST_PID,
         HOST_IPC, HOST_USERNS, HOST_CGROUP, HOST_UTS, CAPABILITIES, DEVICES, SECURITY_OPT,
         SHARED_NAMESPACE, VOLUMES_FROM)

# Where the engines put their sockets: Docker's (the raw one is Docker Desktop's), Podman's
# (rootful) and containerd's; a rootless engine's is in the user's runtime folder.
DEFAULT_SOCKET = "/var/run/docker.sock"
KNOWN_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/var/run/docker.sock.raw",
                 "/run/podman/podman.sock", "/var/run/podman/podman.sock",
                 "/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock")
SOCKET_NAMES = frozenset({"docker.sock", "docker.sock.raw", "podman.sock", "containerd.sock",
                          "containerd.sock.ttrpc"})
# Host folders whose bind is a well-known way out: /proc/sys/kernel/core_pattern runs a command
# as the host's root, a cgroup's release_agent too; /etc and /root hold the host's users and
# keys, /boot its kernel, /var/lib/docker every container's files. The first ones count with
# anything under them; a folder holding one counts too (/var/lib).
SYSTEM_PATHS = ("/proc", "/sys", "/sys/fs/cgroup", "/etc", "/root", "/dev", "/boot", "/var/lib/docker")
SYSTEM_TREES = ("/proc", "/sys", "/dev", "/var/lib/docker")
# Each of these, added, undoes a wall between the container and the host; MKNOD also undoes
# envctl's own `cap_drop: [MKNOD]` (docker applies cap_add after cap_drop). Others (NET_ADMIN,
# NET_RAW, SYS_TIME, ...) stay allowed: they act within the container's own namespaces.
REFUSED_CAPABILITIES = frozenset({"ALL", "SYS_ADMIN", "SYS_PTRACE", "SYS_MODULE", "DAC_READ_SEARCH",
                                  "MKNOD"})
# security_opt values that switch a confinement off ("key=value", or docker's older "key:value").
UNCONFINED = frozenset({"seccomp=unconfined", "apparmor=unconfined", "label=disable",
                        "label=type:spc_t", "label=type:unconfined_t", "systempaths=unconfined"})
_SHARED_KEYS = (("network_mode", HOST_NETWORK), ("pid", HOST_PID), ("ipc", HOST_IPC))
_HOST_KEYS = (("userns_mode", HOST_USERNS), ("cgroup", HOST_CGROUP), ("uts", HOST_UTS))


class Finding(NamedTuple):
    """One way a service reaches the host: its `allow` name, and the compose key that does it."""

    name: str
    key: str


def engine_sockets(docker_host: str = "", runtime_dir: str = "") -> tuple[str, ...]:
    """The sockets a bind mount must not reach: DOCKER_HOST's when it is ``unix://`` (else the
    default one), the usual places of Docker's, Podman's and containerd's, and a rootless
    engine's in ``runtime_dir`` (XDG_RUNTIME_DIR)."""
    found = [docker_host[len("unix://"):] if docker_host.startswith("unix://") else DEFAULT_SOCKET]
    found += KNOWN_SOCKETS
    if runtime_dir.startswith("/"):
        found += [f"{runtime_dir}/docker.sock", f"{runtime_dir}/podman/podman.sock"]
    return tuple(dict.fromkeys(_clean(path) for path in found if path.startswith("/")))


def _clean(path: str) -> str:
    """An absolute path with no `.`, `..`, doubled or trailing slashes (`//var/run` included)."""
    return "/" + posixpath.normpath(path).lstrip("/")


def mount_name(source: str, sockets: Iterable[str],
               resolve: Callable[[str], str] = os.path.realpath) -> str | None:
    """What a bind mount of host path ``source`` hands over: the whole host (`/`), an engine's
    socket (the socket, or a folder holding one), a system folder (SYSTEM_PATHS), or nothing
    (None). The engine follows links in the source as it mounts it: ``./sock`` linking to the
    socket, or a folder linking to `/`, hands over what it leads to, so that is judged too."""
    if not source.startswith("/"):
        return None
    sockets = tuple(sockets)
    found = _named(_clean(source), sockets)
    if found is not None:
        return found
    try:
        real = _clean(resolve(source))
        real_sockets = tuple(dict.fromkeys([*sockets, *(_clean(resolve(s)) for s in sockets)]))
    except (OSError, ValueError):
        return None
    return _named(real, real_sockets) if real != _clean(source) else None


def _named(path: str, sockets: tuple[str, ...]) -> str | None:
    if path == "/":
        return HOST_ROOT_MOUNT
    if posixpath.basename(path) in SOCKET_NAMES:
        return DOCKER_SOCKET
    if any(path == socket or socket.startswith(path + "/") for socket in sockets):
        return DOCKER_SOCKET
    if any(path == system or system.startswith(path + "/") for system in SYSTEM_PATHS) or \
            any(path.startswith(tree + "/") for tree in SYSTEM_TREES):
        return HOST_SYSTEM_MOUNT
    return None


def bind_device(spec: object) -> str | None:
    """The host folder a top-level volume binds (the local driver's ``o: bind`` or ``rbind``,
    among its comma-separated options, with a ``device``), from the whole configuration or the
    reduced one; None for a real volume."""
    if not isinstance(spec, Mapping):
        return None
    if isinstance(spec.get("device"), str):  # the reduced configuration keeps only this
        return str(spec["device"])
    options = spec.get("driver_opts")
    if not isinstance(options, Mapping) or not isinstance(options.get("device"), str):
        return None
    if not {"bind", "rbind"} & {part.strip() for part in str(options.get("o", "")).split(",")}:
        return None
    return str(options["device"])


def source_file(spec: object) -> str | None:
    """The host file a top-level secret or config is read from (``file:``), which compose
    bind-mounts read-only (a socket so mounted can still be connected to); None otherwise."""
    if isinstance(spec, Mapping) and isinstance(spec.get("file"), str):
        return str(spec["file"])
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: object) -> list[str]:
    return [str(item) for item in _items(value)]


class _Project:
    """The services of one project, for the findings that need another service."""

    def __init__(self, services: Mapping[str, Any], sockets: Iterable[str],
                 devices: Mapping[str, str], files: Mapping[str, Mapping[str, str]]) -> None:
        self.services = {str(name): _mapping(spec) for name, spec in services.items()}
        self.sockets = tuple(sockets)
        self.devices = devices  # top-level volume -> the host folder it binds
        self.files = files  # "secrets"/"configs" -> {top-level name -> the host file it binds}

    def mounts(self, name: str, trail: frozenset[str]) -> list[Finding]:
        """The host paths ``name``'s container gets: its own binds, and those it takes with
        `volumes_from` (followed through other services)."""
        data = self.services.get(name, {})
        found = [finding for volume in _items(data.get("volumes")) if (finding := self._volume(volume))]
        found += self._files(data)
        for entry in _strings(data.get("volumes_from")):
            if entry.startswith("container:"):
                found.append(Finding(VOLUMES_FROM, f"volumes_from: {entry} (outside the project: "
                                                   "cannot be checked)"))
                continue
            other = entry.split(":", 1)[0]
            if other not in self.services:
                found.append(Finding(VOLUMES_FROM, f"volumes_from: {entry} (no such service)"))
            elif other not in trail:
                found += [Finding(f.name, f"volumes_from: {entry} ({other}: {f.key})")
                          for f in self.mounts(other, trail | {name})]
        return found

    def _volume(self, volume: object) -> Finding | None:
        if isinstance(volume, str):  # the short form: compose config writes the long one
            short = volume.split(":", 1)[0]
            volume = {"type": "bind" if short.startswith("/") else "volume", "source": short}
        if not isinstance(volume, Mapping) or not isinstance(volume.get("source"), str):
            return None
        source, kind = str(volume["source"]), volume.get("type")
        if kind == "npipe":  # Docker Desktop on Windows: the engine's named pipe
            return Finding(DOCKER_SOCKET, f"volumes: {source}") if "docker" in source.lower() else None
        path = source if kind == "bind" else self.devices.get(source) if kind == "volume" else None
        name = mount_name(path, self.sockets) if path else None
        if name is None:
            return None
        return Finding(name, f"volumes: {source}" if path == source
                       else f"volumes: {source} (a bind of {path})")

    def _files(self, data: Mapping[str, Any]) -> list[Finding]:
        """The service's `secrets` and `configs` read from a host file: binds of that file."""
        found = []
        for key, files in self.files.items():
            for entry in _items(data.get(key)):
                source = entry.get("source") if isinstance(entry, Mapping) else entry
                path = files.get(str(source)) if isinstance(source, str) else None
                name = mount_name(path, self.sockets) if path else None
                if name is not None:
                    found.append(Finding(name, f"{key}: {source} (a bind of {path})"))
        return found

    def namespace(self, name: str, key: str, host_name: str, trail: frozenset[str]) -> list[Finding]:
        """What ``name``'s namespace ``key`` (network_mode, pid, ipc) hands over: the host's,
        another service's that is the host's, or a container's outside the project."""
        value = self.services.get(name, {}).get(key)
        if value == "host":
            return [Finding(host_name, f"{key}: host")]
        if not isinstance(value, str) or not value.startswith(("service:", "container:")):
            return []  # the container's own namespace (private, none, bridge, a network)
        if value.startswith("container:"):
            return [Finding(SHARED_NAMESPACE, f"{key}: {value} (outside the project: cannot be checked)")]
        other = value.removeprefix("service:")
        if other not in self.services:
            return [Finding(SHARED_NAMESPACE, f"{key}: {value} (no such service)")]
        if other in trail:
            return []
        if key == "pid":
            # Sharing processes reaches the other container's files and sockets through
            # /proc/PID/root: everything it holds counts.
            inherited = self.findings(other, trail | {name})
        else:
            inherited = self.namespace(other, key, host_name, trail | {name})
        return [Finding(f.name if f.name == host_name else SHARED_NAMESPACE,
                        f"{key}: {value} ({other}: {f.key})") for f in inherited]

    def findings(self, name: str, trail: frozenset[str] = frozenset()) -> list[Finding]:
        data = self.services.get(name, {})
        found = [Finding(PRIVILEGED, "privileged: true")] if data.get("privileged") is True else []
        found += self.mounts(name, trail)
        for key, host_name in _SHARED_KEYS:
            found += self.namespace(name, key, host_name, trail)
        found += [Finding(host_name, f"{key}: host") for key, host_name in _HOST_KEYS
                  if data.get(key) == "host"]
        found += _capabilities(data)
        found += [Finding(DEVICES, f"devices: {_device(d)}") for d in _items(data.get("devices"))]
        found += [Finding(DEVICES, f"device_cgroup_rules: {rule}")
                  for rule in _strings(data.get("device_cgroup_rules"))]
        found += [Finding(SECURITY_OPT, f"security_opt: {option}")
                  for option in _strings(data.get("security_opt")) if _unconfined(option)]
        return list(dict.fromkeys(found))


def _capabilities(data: Mapping[str, Any]) -> list[Finding]:
    found = []
    for cap in _strings(data.get("cap_add")):
        if cap.strip().upper().removeprefix("CAP_") in REFUSED_CAPABILITIES:
            found.append(Finding(CAPABILITIES, f"cap_add: {cap}"))
    return found


def _device(device: object) -> str:
    """A `devices` entry: ``/dev/x[:/dev/y[:rwm]]``, or compose's mapping with a source."""
    if isinstance(device, Mapping):
        return str(device.get("source", device))
    return str(device)


def _unconfined(option: str) -> bool:
    text = option.strip().lower()
    key, sep, value = text.partition("=")
    if not sep:
        key, _sep, value = text.partition(":")
    return f"{key}={value}" in UNCONFINED


def project_findings(services: Mapping[str, Any], *, sockets: Iterable[str] | None = None,
                     volumes: Mapping[str, Any] | None = None, secrets: Mapping[str, Any] | None = None,
                     configs: Mapping[str, Any] | None = None) -> dict[str, tuple[Finding, ...]]:
    """Every service's findings, in the order of the compose keys. ``sockets``: the engine
    sockets to look for (default: the usual places, ``engine_sockets()``); ``volumes``: the
    project's top-level volumes (a bind-type volume counts as the folder it binds);
    ``secrets``, ``configs``: its top-level ones (one with a ``file`` counts as a bind of it)."""
    devices = {str(name): device for name, spec in (volumes or {}).items()
               if (device := bind_device(spec)) is not None}
    files = {key: {str(name): path for name, spec in (given or {}).items()
                   if (path := source_file(spec)) is not None}
             for key, given in (("secrets", secrets), ("configs", configs))}
    project = _Project(services, engine_sockets() if sockets is None else sockets, devices, files)
    return {name: tuple(project.findings(name)) for name in project.services}
