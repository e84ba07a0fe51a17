"""Each way a compose service would hand its container the host is found, named for `allow`,
with the compose key that does it; ordinary services have none (pure logic, no engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from envctl.docker.unsafe import (
    NAMES,
    Finding,
    bind_device,
    engine_sockets,
    mount_name,
    project_findings,
    source_file,
)
from envctl.setting_values import UNSAFE

SOCKETS = engine_sockets("", "")


def bind(source: str) -> dict[str, Any]:
    """A bind mount as `docker compose config` writes it."""
    return {"type": "bind", "source": source, "target": "/mnt", "bind": {"create_host_path": True}}


def findings(test: dict[str, Any], **others: dict[str, Any]) -> tuple[Finding, ...]:
    """The test service's findings, in a project with ``others`` beside it."""
    return project_findings({"test": {"image": "python", **test}, **others}, sockets=SOCKETS)["test"]


@pytest.mark.parametrize(("service", "expected"), [
    ({"privileged": True}, [("privileged", "privileged: true")]),
    ({"volumes": [bind("/")]}, [("host-root-mount", "volumes: /")]),
    ({"volumes": [bind("//")]}, [("host-root-mount", "volumes: //")]),
    ({"volumes": [bind("/var/run/docker.sock")]}, [("docker-socket", "volumes: /var/run/docker.sock")]),
    ({"volumes": [bind("/run/docker.sock")]}, [("docker-socket", "volumes: /run/docker.sock")]),
    ({"volumes": [bind("/var/run")]}, [("docker-socket", "volumes: /var/run")]),
    ({"volumes": [bind("/run/")]}, [("docker-socket", "volumes: /run/")]),
    ({"volumes": [bind("/var")]}, [("docker-socket", "volumes: /var")]),
    ({"volumes": [bind("/var/run/docker.sock.raw")]},
     [("docker-socket", "volumes: /var/run/docker.sock.raw")]),
    ({"volumes": [bind("/home/me/.docker/run/docker.sock")]},
     [("docker-socket", "volumes: /home/me/.docker/run/docker.sock")]),
    ({"volumes": [bind("/run/podman/podman.sock")]}, [("docker-socket", "volumes: /run/podman/podman.sock")]),
    ({"volumes": [bind("/run/podman")]}, [("docker-socket", "volumes: /run/podman")]),
    ({"volumes": [bind("/run/user/1000/podman/podman.sock")]},
     [("docker-socket", "volumes: /run/user/1000/podman/podman.sock")]),
    ({"volumes": [bind("/run/containerd/containerd.sock")]},
     [("docker-socket", "volumes: /run/containerd/containerd.sock")]),
    ({"volumes": [bind("/run/containerd")]}, [("docker-socket", "volumes: /run/containerd")]),
    ({"volumes": ["/var/run/docker.sock:/var/run/docker.sock"]},
     [("docker-socket", "volumes: /var/run/docker.sock")]),
    ({"volumes": [{"type": "npipe", "source": "\\\\.\\pipe\\docker_engine", "target": "x"}]},
     [("docker-socket", "volumes: \\\\.\\pipe\\docker_engine")]),
    ({"network_mode": "host"}, [("host-network", "network_mode: host")]),
    ({"pid": "host"}, [("host-pid", "pid: host")]),
    ({"ipc": "host"}, [("host-ipc", "ipc: host")]),
    ({"userns_mode": "host"}, [("host-userns", "userns_mode: host")]),
    ({"cgroup": "host"}, [("host-cgroup", "cgroup: host")]),
    ({"uts": "host"}, [("host-uts", "uts: host")]),
    ({"network_mode": "container:vpn"},
     [("shared-namespace", "network_mode: container:vpn (outside the project: cannot be checked)")]),
    ({"pid": "container:x"},
     [("shared-namespace", "pid: container:x (outside the project: cannot be checked)")]),
    ({"ipc": "service:gone"}, [("shared-namespace", "ipc: service:gone (no such service)")]),
    ({"cap_add": ["ALL"]}, [("capabilities", "cap_add: ALL")]),
    ({"cap_add": ["SYS_ADMIN", "sys_ptrace", "CAP_SYS_MODULE", "DAC_READ_SEARCH"]},
     [("capabilities", "cap_add: SYS_ADMIN"), ("capabilities", "cap_add: sys_ptrace"),
      ("capabilities", "cap_add: CAP_SYS_MODULE"), ("capabilities", "cap_add: DAC_READ_SEARCH")]),
    ({"cap_add": ["MKNOD"]}, [("capabilities", "cap_add: MKNOD")]),
    ({"devices": [{"source": "/dev/fuse", "target": "/dev/fuse", "permissions": "rwm"}]},
     [("devices", "devices: /dev/fuse")]),
    ({"devices": ["/dev/sda:/dev/xvda:rwm"]}, [("devices", "devices: /dev/sda:/dev/xvda:rwm")]),
    ({"device_cgroup_rules": ["c 1:3 mr"]}, [("devices", "device_cgroup_rules: c 1:3 mr")]),
    ({"security_opt": ["seccomp=unconfined"]}, [("security-opt", "security_opt: seccomp=unconfined")]),
    ({"security_opt": ["seccomp:unconfined"]}, [("security-opt", "security_opt: seccomp:unconfined")]),
    ({"security_opt": ["apparmor=unconfined"]}, [("security-opt", "security_opt: apparmor=unconfined")]),
    ({"security_opt": ["apparmor:unconfined"]}, [("security-opt", "security_opt: apparmor:unconfined")]),
    ({"security_opt": ["label=disable"]}, [("security-opt", "security_opt: label=disable")]),
    ({"security_opt": ["label:disable"]}, [("security-opt", "security_opt: label:disable")]),
    ({"security_opt": ["label=type:spc_t"]}, [("security-opt", "security_opt: label=type:spc_t")]),
    ({"security_opt": ["systempaths=unconfined"]},
     [("security-opt", "security_opt: systempaths=unconfined")]),
    ({"volumes_from": ["container:tools"]},
     [("volumes-from", "volumes_from: container:tools (outside the project: cannot be checked)")]),
    ({"volumes_from": ["container:tools:ro"]},
     [("volumes-from", "volumes_from: container:tools:ro (outside the project: cannot be checked)")]),
])
def test_each_way_to_the_host_is_found_with_its_key(service: dict[str, Any],
                                                    expected: list[tuple[str, str]]) -> None:
    """One service alone: every listed way, with the `allow` name and the key as written."""
    assert findings(service) == tuple(expected)


@pytest.mark.parametrize("service", [
    {"volumes": [bind("/srv/project"), bind("/home/me/src"), bind("/etc/localtime"), bind("/tmp/x"),
                 bind("/var/lib/app"), bind("/run/secrets/token"),
                 {"type": "volume", "source": "data", "target": "/data"},
                 {"type": "tmpfs", "target": "/tmp"}, "./src:/src", "cache:/cache"]},
    {"cap_add": ["NET_ADMIN", "NET_RAW", "SYS_TIME", "SYS_NICE", "IPC_LOCK"]},
    {"security_opt": ["no-new-privileges:true", "seccomp=/etc/profile.json", "apparmor=docker-default",
                      "label=type:container_t"]},
    {"network_mode": "bridge", "pid": "private", "ipc": "shareable", "userns_mode": "", "cgroup": "private",
     "uts": ""},
    {"network_mode": "none"},
    {"privileged": False},
    {"deploy": {"resources": {"reservations": {"devices": [{"capabilities": ["gpu"]}]}}}},
])
def test_ordinary_services_have_no_finding(service: dict[str, Any]) -> None:
    """Named volumes, project folders, harmless capabilities and confinements: nothing."""
    assert findings(service) == ()


def test_volumes_from_a_service_takes_its_mounts_through_a_chain() -> None:
    """`volumes_from` a service counts that service's unsafe mounts (under their own names),
    followed through another service; a harmless one adds nothing; a loop ends."""
    socket = {"image": "docker", "volumes": [bind("/var/run/docker.sock")]}
    assert findings({"volumes_from": ["tools:ro"]}, tools=socket) == (
        ("docker-socket", "volumes_from: tools:ro (tools: volumes: /var/run/docker.sock)"),)
    middle = {"image": "x", "volumes_from": ["tools"]}
    assert findings({"volumes_from": ["middle"]}, middle=middle, tools=socket) == (
        ("docker-socket", "volumes_from: middle (middle: volumes_from: tools "
                          "(tools: volumes: /var/run/docker.sock))"),)
    assert findings({"volumes_from": ["data"]}, data={"volumes": [bind("/srv/data")]}) == ()
    assert findings({"volumes_from": ["gone"]}) == (("volumes-from", "volumes_from: gone (no such service)"),)
    loop = project_findings({"a": {"volumes_from": ["b"]}, "b": {"volumes_from": ["a"]}}, sockets=SOCKETS)
    assert loop == {"a": (), "b": ()}


def test_a_namespace_of_a_service_on_the_hosts_counts_as_the_hosts() -> None:
    """network_mode/ipc `service:X` where X is on the host's namespace (directly or through
    another) is host-network/host-ipc; a private X is fine."""
    host = {"image": "x", "network_mode": "host", "ipc": "host"}
    assert findings({"network_mode": "service:vpn", "ipc": "service:vpn"}, vpn=host) == (
        ("host-network", "network_mode: service:vpn (vpn: network_mode: host)"),
        ("host-ipc", "ipc: service:vpn (vpn: ipc: host)"))
    chain = {"network_mode": "service:vpn"}
    assert findings({"network_mode": "service:proxy"}, proxy=chain, vpn=host) == (
        ("host-network", "network_mode: service:proxy (proxy: network_mode: service:vpn "
                         "(vpn: network_mode: host))"),)
    privileged_sidecar = {"image": "x", "privileged": True, "devices": ["/dev/net/tun"]}
    assert findings({"network_mode": "service:vpn"}, vpn=privileged_sidecar) == ()


def test_sharing_processes_with_a_service_counts_all_it_holds() -> None:
    """pid `service:X` reaches X's files through /proc: X's host pid stays host-pid, anything
    else X holds is shared-namespace."""
    tools = {"image": "x", "pid": "host", "volumes": [bind("/var/run/docker.sock")]}
    assert findings({"pid": "service:tools"}, tools=tools) == (
        ("shared-namespace", "pid: service:tools (tools: volumes: /var/run/docker.sock)"),
        ("host-pid", "pid: service:tools (tools: pid: host)"))
    assert findings({"pid": "service:db"}, db={"image": "postgres"}) == ()
    loop = project_findings({"a": {"pid": "service:b"}, "b": {"pid": "service:a"}}, sockets=SOCKETS)
    assert loop == {"a": (), "b": ()}


def test_a_bind_type_named_volume_counts_as_the_folder_it_binds() -> None:
    """A local volume with `o: bind` and a device is a bind mount of that device."""
    volumes = {"hostroot": {"driver_opts": {"type": "none", "o": "bind", "device": "/"}},
               "sock": {"driver_opts": {"o": "bind,ro", "device": "/var/run"}},
               "nfs": {"driver_opts": {"type": "nfs", "o": "addr=10.0.0.1", "device": ":/"}},
               "data": {}}
    service = {"volumes": [{"type": "volume", "source": name, "target": f"/{name}"} for name in volumes]}
    assert project_findings({"test": service}, sockets=SOCKETS, volumes=volumes)["test"] == (
        ("host-root-mount", "volumes: hostroot (a bind of /)"),
        ("docker-socket", "volumes: sock (a bind of /var/run)"))


def test_bind_device_reads_the_whole_and_the_reduced_configuration() -> None:
    """driver_opts with `bind` among the options, or the reduced form's `device`."""
    assert bind_device({"driver_opts": {"o": "bind", "device": "/srv"}}) == "/srv"
    assert bind_device({"external": False, "device": "/srv"}) == "/srv"
    assert bind_device({"driver_opts": {"o": "addr=x", "device": ":/export"}}) is None
    assert bind_device({"name": "p_data"}) is None
    assert bind_device(None) is None


def test_the_engine_socket_comes_from_docker_host_and_its_folders_count() -> None:
    """A unix DOCKER_HOST's socket (else the default) and the runtime folder's; every folder
    above a socket hands it over too."""
    sockets = engine_sockets("unix:///home/me/.docker/desktop/docker.sock", "/run/user/1000")
    assert sockets[0] == "/home/me/.docker/desktop/docker.sock"
    assert "/run/user/1000/docker.sock" in sockets
    assert engine_sockets("tcp://build:2376", "")[0] == "/var/run/docker.sock"
    assert mount_name("/home/me", sockets) == "docker-socket"
    assert mount_name("/home/me/project", sockets) is None
    assert mount_name("/run/user/1000", sockets) == "docker-socket"
    assert mount_name("/run/user/1000", engine_sockets("", "")) is None  # the runtime folder unknown
    assert mount_name("/run", engine_sockets("", "")) == "docker-socket"
    assert mount_name("/srv/../", sockets) == "host-root-mount"
    assert mount_name("relative/docker", sockets) is None


def test_every_name_is_one_allow_takes() -> None:
    """The names found are exactly those the `allow` setting accepts, in one order."""
    assert NAMES == UNSAFE


def test_an_rbind_named_volume_counts_as_the_folder_it_binds() -> None:
    """moby's local driver mounts `rbind` (among comma-separated options) as a bind too."""
    volumes = {"hostroot": {"driver_opts": {"type": "none", "o": "rbind", "device": "/"}},
               "sock": {"driver_opts": {"type": "none", "o": "ro, rbind", "device": "/var/run"}},
               "named": {"driver_opts": {"type": "none", "o": "rbindx", "device": "/"}}}
    service = {"volumes": [{"type": "volume", "source": name, "target": f"/{name}"} for name in volumes]}
    assert project_findings({"test": service}, sockets=SOCKETS, volumes=volumes)["test"] == (
        ("host-root-mount", "volumes: hostroot (a bind of /)"),
        ("docker-socket", "volumes: sock (a bind of /var/run)"))


def test_secrets_and_configs_read_from_a_host_file_count_as_binds_of_it() -> None:
    """A secret or config with `file:` is bind-mounted: the socket or `/` is found, whichever
    form the service names it in; one from the environment or inline content is no bind."""
    secrets = {"sock": {"name": "p_sock", "file": "/var/run/docker.sock"},
               "token": {"name": "p_token", "environment": "TOKEN"}, "ok": {"file": "/srv/p/key"}}
    configs = {"root": {"file": "/"}, "inline": {"content": "x"}}
    service = {"secrets": [{"source": "sock", "target": "/run/secrets/s"}, "token", "ok"],
               "configs": ["root", {"source": "inline"}]}
    assert project_findings({"test": service}, sockets=SOCKETS, secrets=secrets, configs=configs)["test"] == (
        ("docker-socket", "secrets: sock (a bind of /var/run/docker.sock)"),
        ("host-root-mount", "configs: root (a bind of /)"))
    assert (source_file(secrets["sock"]), source_file(secrets["token"]), source_file(None)) == (
        "/var/run/docker.sock", None, None)


@pytest.mark.parametrize("path", [
    "/proc", "/sys", "/sys/fs/cgroup", "/etc", "/root", "/dev", "/boot", "/var/lib/docker",
    "/proc/sys/kernel", "/sys/fs/cgroup/memory", "/dev/sda", "/var/lib/docker/volumes", "/var/lib",
    "/etc/", "//proc/../proc",
])
def test_a_bind_of_a_host_system_folder_is_found(path: str) -> None:
    """core_pattern, a cgroup's release_agent, the host's users, kernel, containers: refused."""
    assert findings({"volumes": [bind(path)]}) == (("host-system-mount", f"volumes: {path}"),)


def test_a_link_in_a_bind_source_is_judged_by_where_it_leads(tmp_path: Path) -> None:
    """The engine follows links as it mounts: a folder linking to `/`, to /etc, or a file linking
    to an engine's socket hands over what it leads to; a harmless link stays harmless."""
    sockets = (str(tmp_path / "run" / "docker.sock"),)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "docker.sock").touch()
    for name, target in (("root", "/"), ("etc", "/etc"), ("sock", str(tmp_path / "run" / "docker.sock")),
                         ("data", str(tmp_path / "run"))):
        (tmp_path / name).symlink_to(target)
    (tmp_path / "plain").mkdir()
    (tmp_path / "harmless").symlink_to(tmp_path / "plain")
    found = {name: mount_name(str(tmp_path / name), sockets) for name in
             ("root", "etc", "sock", "data", "harmless", "plain")}
    assert found == {"root": "host-root-mount", "etc": "host-system-mount", "sock": "docker-socket",
                     "data": "docker-socket", "harmless": None, "plain": None}
