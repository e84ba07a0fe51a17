"""A thin wrapper over the docker SDK: every call has a deadline; errors become envctl errors."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envctl.docker import labels as label_names
from envctl.docker.models import ContainerState, EngineInfo
from envctl.errors import ContainerGoneError, DockerError, EngineUnavailableError, EnvctlError

if TYPE_CHECKING:
    import docker


def describe_host() -> str:
    """Where the engine is expected, for messages."""
    return os.environ.get("DOCKER_HOST") or "the default socket (unix:///var/run/docker.sock)"


ATTACH_GRACE = 2.0  # seconds an attach may stay open after its container exited
ENGINE_HINT = "start the Docker engine (scripts/setup-docker does it on Debian), or fix DOCKER_HOST"


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Turn SDK and transport exceptions into envctl errors that say what failed."""
    import docker.errors  # noqa: PLC0415  # lazy: the SDK costs ~150 ms to import
    import requests.exceptions  # noqa: PLC0415

    try:
        yield
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise EngineUnavailableError(
            f"{what}: the Docker engine at {describe_host()} does not answer ({type(exc).__name__})",
            hint=ENGINE_HINT,
        ) from exc
    except docker.errors.NotFound as exc:
        raise ContainerGoneError(f"{what}: {exc.explanation or exc}") from exc
    except docker.errors.APIError as exc:
        status = exc.status_code or 0
        raise DockerError(f"{what}: {exc.explanation or exc}", transient=status >= 500) from exc
    except docker.errors.DockerException as exc:
        text = str(exc)
        if "Connection" in text or "connect" in text or "FileNotFoundError" in text:
            raise EngineUnavailableError(
                f"{what}: the Docker engine at {describe_host()} does not answer",
                hint=ENGINE_HINT,
            ) from exc
        raise DockerError(f"{what}: {text}") from exc


_API_VERSIONS: dict[str, tuple[str, float]] = {}  # engine address -> (API version agreed, when)
API_VERSION_REUSE = 10.0  # seconds an agreed API version is reused without asking again


class Engine:
    """The engine, through the docker SDK. ``timeout`` bounds each HTTP call.

    ``timeout=None`` is only for the collector's output stream and exit wait, whose deadline is
    the run's own (enforced inside the container).
    """

    def __init__(self, timeout: float | None = 60.0) -> None:
        import docker  # noqa: PLC0415  # lazy import, see translate_errors

        self.timeout = timeout
        with translate_errors("connecting to Docker"):
            kwargs = _client_kwargs()  # a bad DOCKER_CERT_PATH fails here: a DockerError too
            # "auto" negotiates the API version with one bounded call, so a dead DOCKER_HOST
            # fails here, inside the deadline, and newer engines that dropped old APIs work.
            # Reused for a few seconds: the collector opens several clients on the way to the
            # tests; a long-lived process asks again (the engine may have been replaced).
            address = str(kwargs["base_url"])
            cached = _API_VERSIONS.get(address)
            version = cached[0] if cached and time.monotonic() - cached[1] < API_VERSION_REUSE else "auto"
            self.client: docker.DockerClient = docker.DockerClient(
                **kwargs,
                timeout=None if timeout is None else max(1, round(timeout)),  # type: ignore[arg-type]  # None = no socket timeout, which docker-py supports
                version=version
            )
        if version == "auto":
            _API_VERSIONS[address] = (str(self.client.api.api_version), time.monotonic())

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def info(self) -> EngineInfo:
        with translate_errors("asking the engine its version"):
            return EngineInfo.from_version(self.client.version())

    def ping(self) -> None:
        with translate_errors("pinging the engine"):
            self.client.ping()

    def container_state(self, container_id: str) -> ContainerState | None:
        """One inspect; ``None`` when the container is gone."""

        try:
            with translate_errors("inspecting a container"):
                data = self.client.api.inspect_container(container_id)
        except ContainerGoneError:
            return None
        return ContainerState.from_inspect(data)

    def endpoints(self, container_id: str, port: int) -> list[tuple[str, int]]:
        """Where this machine can reach the container's TCP ``port``: its published binding (on
        the engine's host), then, with a local engine on Linux, its address on each network."""
        try:
            with translate_errors("inspecting a container"):
                data = self.client.api.inspect_container(container_id)
        except ContainerGoneError:
            return []
        return container_endpoints(data, port, os.environ.get("DOCKER_HOST", ""), sys.platform)

    def containers(self, labels: dict[str, str] | list[str], *, all_: bool = True) -> list[ContainerState]:
        """Every container carrying ``labels`` (a dict or ``key=value`` strings), inspected."""
        label_filter = [f"{k}={v}" for k, v in labels.items()] if isinstance(labels, dict) else labels
        with translate_errors("listing containers"):
            summaries = self.client.api.containers(all=all_, filters={"label": label_filter})
        states = []
        for summary in summaries:
            state = self.container_state(str(summary["Id"]))
            if state is not None:
                states.append(state)
        return states

    def container_logs_tail(self, container_id: str, lines: int = 20) -> list[str]:

        try:
            with translate_errors("reading container logs"):
                raw: bytes = self.client.api.logs(container_id, tail=lines, stdout=True, stderr=True)
        except ContainerGoneError:
            return []
        return raw.decode("utf-8", errors="replace").splitlines()[-lines:]

    def output_stream(self, container_id: str, *, follow: bool,
                      tail: int | None = None) -> Iterator[bytes]:
        """The container's stdout and stderr from the engine's stored log, from its first byte
        (or the last ``tail`` lines).

        ``follow``: go on until the container exits. Unlike an attach, the stored log has no
        gap however late it is read; but it re-encodes invalid UTF-8.
        """

        try:
            stream = self._open_output(container_id, follow=follow, tail=tail, attach=False)
        except ContainerGoneError:
            return iter(())
        return _guarded_stream(stream, "reading the test container's output")

    def follow_output(self, container_id: str, sink: Callable[[bytes], None], *,
                      grace: float = ATTACH_GRACE,
                      on_attached: Callable[[], None] | None = None) -> tuple[int | None, bool]:
        """Attach and copy the output to ``sink`` until the container exits.

        Whole only if attached before the container wrote anything (the runner waits for the
        collector's gate): what is written while the engine replays its log is lost.

        Returns (exit code or None if the container vanished, complete). The attach is the only
        byte-exact copy (the engine's stored log re-encodes invalid UTF-8), but attaching to a
        container that has already stopped returns nothing, or hangs. So: attach first, then
        inspect; a container not running by then is reported incomplete at once, and the caller
        reads the stored log. Otherwise the exit is awaited alongside, and an attach that stops
        delivering bytes for ``grace`` seconds after the exit is closed and reported incomplete.
        """

        try:
            stream = self._open_output(container_id, follow=True, tail=None, attach=True)
        except ContainerGoneError:
            return None, False
        if on_attached is not None:
            try:
                on_attached()
            except BaseException:
                with contextlib.suppress(Exception):
                    stream.close()
                raise
        state = self.container_state(container_id)
        if state is None or state.status not in ("running", "paused", "restarting"):
            with contextlib.suppress(Exception):
                stream.close()
            return (None if state is None else state.exit_code), False
        finished = threading.Event()
        received = [0]

        def pump() -> None:
            try:
                for chunk in _guarded_stream(stream, "reading the test container's output"):
                    received[0] += len(chunk)
                    sink(chunk)
            except Exception:  # noqa: S110  # closing the stream ends the read with an error
                pass
            finally:
                finished.set()

        thread = threading.Thread(target=pump, daemon=True, name="envctl-attach")
        thread.start()
        try:
            code = self.wait_exit(container_id)
        except ContainerGoneError:
            code = None
        seen = -1
        while seen != received[0]:  # after the exit, wait as long as bytes keep arriving
            seen = received[0]
            if finished.wait(grace):
                # An attach whose container exits while the engine replays its log can end
                # without a byte; the stored log is the better source then.
                return code, received[0] > 0
        with contextlib.suppress(Exception):
            stream.close()
        thread.join(grace)
        return code, False

    def _open_output(self, container_id: str, *, follow: bool, tail: int | None, attach: bool) -> Any:
        with translate_errors("reading the test container's output"):
            if attach:
                # The engine replays the stored log, then joins the live stream: bytes written
                # in between are lost, so only an attach made before any output is whole.
                stream = self.client.api.attach(container_id, stdout=True, stderr=True,
                                                stream=True, logs=True)
            else:
                stream = self.client.api.logs(container_id, stdout=True, stderr=True, stream=True,
                                              follow=follow, tail="all" if tail is None else tail)
        return stream

    def wait_exit(self, container_id: str, timeout: float | None = None) -> int | None:
        """Block until the container exits: its exit code, or None if ``timeout`` passed first."""
        import requests.exceptions  # noqa: PLC0415

        try:
            with translate_errors("waiting for the test container"):
                result = self.client.api.wait(
                    container_id, timeout=None if timeout is None else max(1, math.ceil(timeout)))
        except EngineUnavailableError as exc:
            timed_out = isinstance(exc.__cause__, (requests.exceptions.ReadTimeout,
                                                   requests.exceptions.ConnectionError))
            if timeout is not None and timed_out and self.ping_ok():
                return None
            raise
        return int(result.get("StatusCode", -1))

    def ping_ok(self) -> bool:
        try:
            self.ping()
        except EngineUnavailableError:
            return False
        return True

    def kill(self, container_id: str, signal: str) -> bool:
        """Send ``signal``; False when the container is not running any more."""

        try:
            with translate_errors("signalling the test container"):
                self.client.api.kill(container_id, signal=signal)
        except DockerError:
            return False
        return True

    def copy_file_out(self, container_id: str, path: str, dest: Path, *, cap: int = 512 << 20) -> bool:
        """Copy one regular file out of a (stopped) container to ``dest`` (0600); False if absent."""
        import tarfile  # noqa: PLC0415
        import tempfile  # noqa: PLC0415


        try:
            with translate_errors(f"copying {path} out of the test container"):
                stream, _stat = self.client.api.get_archive(container_id, path)
                with tempfile.TemporaryFile() as archive:
                    for chunk in stream:
                        archive.write(chunk)
                    archive.seek(0)
                    with tarfile.open(fileobj=archive) as tar:
                        member = next((m for m in tar.getmembers() if m.isfile()), None)
                        source = tar.extractfile(member) if member else None
                        if source is None:
                            return False
                        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                        with os.fdopen(fd, "wb") as out:
                            copied = 0
                            while (block := source.read(1 << 20)) and copied < cap:
                                out.write(block[:cap - copied])
                                copied += len(block)
        except ContainerGoneError:
            return False
        return True

    def probe_in_network(self, image: str, target: str, argv: list[str], *, labels: dict[str, str],
                         seconds: float, on_created: Callable[[str], None] = lambda _id: None,
                         ) -> tuple[bool, str]:
        """Run ``argv`` in a container of ``image`` sharing ``target``'s network namespace, at
        most ``seconds`` (+ a start's grace); (exited 0, what it printed last). It is removed
        whatever happens (``on_created`` learns its id, to remove it sooner); its labels let
        `down` find it if this process dies first."""
        with translate_errors("starting a probe container"):
            created = self.client.api.create_container(
                image, command=argv[1:], entrypoint=argv[:1], labels=labels,
                host_config=self.client.api.create_host_config(network_mode=f"container:{target}"))
        probe = str(created["Id"])
        try:
            on_created(probe)
            with translate_errors("starting a probe container"):
                self.client.api.start(probe)
            try:
                code = self.wait_exit(probe, timeout=seconds + 10)
            except ContainerGoneError:
                return False, "the probe was stopped"
            if code is None:
                return False, f"the probe did not end within {seconds + 10:.0f}s"
            with translate_errors("reading a probe container's output"):
                raw = self.client.api.logs(probe, stdout=True, stderr=True, tail=5)
            text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else ""
            said = text.strip().splitlines()
            return code == 0, (said[-1][:300] if said else f"the probe exited {code}")
        finally:
            with contextlib.suppress(DockerError):
                self.remove(probe)

    def remove(self, container_id: str) -> None:

        try:
            with translate_errors("removing the test container"):
                self.client.api.remove_container(container_id, force=True, v=True)
        except ContainerGoneError:
            pass

    def image_exists(self, name: str) -> bool:

        try:
            with translate_errors("inspecting an image"):
                self.client.api.inspect_image(name)  # type: ignore[no-untyped-call]  # untyped in types-docker
        except ContainerGoneError:
            return False
        except DockerError:
            return False
        return True

    def isolated_projects(self, isolated_label: str, project_label: str) -> dict[str, ProjectAge]:
        """Every project with ``isolated_label=true`` objects: its newest container's creation
        time and whether a test run is still going in it. Networks and volumes without
        containers count as created long ago."""
        projects: dict[str, ProjectAge] = {}
        wanted = {"label": f"{isolated_label}=true"}
        with translate_errors("listing isolated projects"):
            containers = self.client.api.containers(all=True, filters=wanted)
            networks = self.client.api.networks(filters=wanted)
            volumes = self.client.api.volumes(filters=wanted).get("Volumes") or []
        for summary in containers:
            tags = summary.get("Labels") or {}
            info = projects.setdefault(str(tags.get(project_label, "")), ProjectAge())
            info.newest_created = max(info.newest_created, float(summary.get("Created") or 0))
            if tags.get(label_names.ROLE) == label_names.TEST_RUN_ROLE and summary.get("State") == "running":
                info.running_tests = True
        for other in [*networks, *volumes]:
            tags = other.get("Labels") or {}
            projects.setdefault(str(tags.get(project_label, "")), ProjectAge())
        projects.pop("", None)
        return projects

    def remove_labelled(self, *label_filters: str) -> dict[str, int]:
        """Force-remove containers, then networks and volumes, carrying every label filter."""
        import docker.errors  # noqa: PLC0415

        wanted = {"label": list(label_filters)}
        counts = {"containers": 0, "networks": 0, "volumes": 0}
        with translate_errors("removing labelled objects"):
            for summary in self.client.api.containers(all=True, filters=wanted):
                with contextlib.suppress(docker.errors.NotFound):
                    self.client.api.remove_container(summary["Id"], force=True, v=True)
                    counts["containers"] += 1
            for network in self.client.api.networks(filters=wanted):
                with contextlib.suppress(docker.errors.NotFound):
                    self.client.api.remove_network(network["Id"])
                    counts["networks"] += 1
            for volume in self.client.api.volumes(filters=wanted).get("Volumes") or []:
                with contextlib.suppress(docker.errors.NotFound):
                    self.client.api.remove_volume(volume["Name"], force=True)
                    counts["volumes"] += 1
        return counts

    def events(self, *, filters: dict[str, Any], since: float | None = None,
               until: float | None = None) -> Any:
        """The engine's event stream (decoded dicts), closed by the caller. ``since``/``until``
        to the nanosecond (the engine reads "seconds.fraction"), not to the whole second."""
        def stamp(moment: float | None) -> Any:  # the SDK passes a string through; its stubs say int
            return None if moment is None else f"{moment:.9f}"

        with translate_errors("subscribing to engine events"):
            return self.client.api.events(decode=True, filters=filters, since=stamp(since),
                                          until=stamp(until))


@dataclass
class ProjectAge:
    newest_created: float = 0.0
    running_tests: bool = False


def container_endpoints(data: dict[str, Any], port: int, docker_host: str,
                        platform: str) -> list[tuple[str, int]]:
    """``endpoints`` from one inspect (pure, for tests)."""
    raw = data.get("NetworkSettings")
    settings: dict[str, Any] = raw if isinstance(raw, dict) else {}
    found: list[tuple[str, int]] = []
    remote = urllib.parse.urlsplit(docker_host) if docker_host else None
    engine_host = remote.hostname if remote is not None and remote.scheme in ("tcp", "ssh", "http", "https") \
        else None
    bindings = (settings.get("Ports") or {}).get(f"{port}/tcp") or []
    for binding in bindings if isinstance(bindings, list) else []:
        host_port = str(binding.get("HostPort", "")) if isinstance(binding, dict) else ""
        if not host_port.isdigit():
            continue
        host_ip = str(binding.get("HostIp") or "")
        host = engine_host or ("127.0.0.1" if host_ip in ("", "0.0.0.0") else  # noqa: S104  # bind-all
                               "::1" if host_ip == "::" else host_ip)
        if (host, int(host_port)) not in found:
            found.append((host, int(host_port)))
    if engine_host is None and platform.startswith("linux"):  # the bridge is this machine's
        # After the published ports: where the bridge is not routable (rootless Docker, envctl in
        # a CI job container) a connect to it hangs for the whole try.
        networks = settings.get("Networks") or {}
        for network in networks.values() if isinstance(networks, dict) else []:
            address = network.get("IPAddress") if isinstance(network, dict) else None
            if isinstance(address, str) and address:
                found.append((address, port))
    return found


def _guarded_stream(stream: Any, what: str) -> Iterator[bytes]:

    try:
        with translate_errors(what):
            yield from stream
    except ContainerGoneError:
        return


def use_context(name: str) -> str:
    """Point this process (and every process it starts) at docker context ``name``.

    The context's endpoint becomes DOCKER_HOST, which the docker CLI (and so python-on-whales
    and compose) and the SDK both honour, as do collectors started later.
    """
    import subprocess  # noqa: PLC0415

    from envctl.errors import ConfigError  # noqa: PLC0415

    try:
        proc = subprocess.run(["docker", "context", "inspect", name, "--format",  # noqa: S607  # docker from PATH, as python-on-whales finds it
                               "{{.Endpoints.docker.Host}}"],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineUnavailableError(f"cannot read docker context {name!r}: {exc}") from None
    host = proc.stdout.strip()
    if proc.returncode != 0 or not host:
        raise ConfigError(f"docker context {name!r}: {proc.stderr.strip() or 'no docker endpoint'}",
                          hint="`docker context ls` lists the contexts")
    os.environ["DOCKER_HOST"] = host
    os.environ.pop("DOCKER_CONTEXT", None)
    return host


def _client_kwargs() -> dict[str, Any]:
    """Connection parameters from DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH."""
    from docker.utils import kwargs_from_env  # noqa: PLC0415

    kwargs: dict[str, Any] = dict(kwargs_from_env())
    kwargs.setdefault("base_url", "unix:///var/run/docker.sock")
    return kwargs


def missing_images(names: list[str], *, timeout: float = 30.0) -> list[str]:
    """The images of ``names`` the engine does not have: asked on the engine's local socket when
    the docker CLI would use it, else through the CLI.

    `envctl test --detach`'s background process calls this before `compose run`: a ~2 ms socket
    call (~20 ms through the CLI) per image keeps the SDK's ~150 ms import off the path to the
    test container's start.
    """
    import subprocess  # noqa: PLC0415

    from envctl.docker.cli_config import local_socket  # noqa: PLC0415

    missing = []
    socket_path = local_socket()
    for name in names:
        present = None if socket_path is None else _image_on_socket(socket_path, name, timeout)
        if present is not None:
            if not present:
                missing.append(name)
            continue
        try:
            proc = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", name],  # noqa: S607  # docker from PATH, as compose finds it
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise DockerError(f"checking for image {name}: docker did not answer within {timeout:.0f}s",
                              hint=ENGINE_HINT) from None
        except OSError as exc:
            raise EngineUnavailableError(f"checking for image {name}: cannot run docker: {exc}",
                                         hint=ENGINE_HINT) from None
        if proc.returncode == 0:
            continue
        if "no such image" in proc.stderr.lower():
            missing.append(name)
            continue
        reason = proc.stderr.strip().splitlines()[0] if proc.stderr.strip() else f"exit {proc.returncode}"
        if "cannot connect" in reason.lower() or "is the docker daemon running" in reason.lower():
            raise EngineUnavailableError(f"checking for image {name}: {reason}", hint=ENGINE_HINT)
        raise DockerError(f"checking for image {name}: {reason}")
    return missing


def _image_on_socket(socket_path: str, name: str, timeout: float) -> bool | None:
    """Whether the engine has image ``name``; None when the socket cannot say (the CLI then
    asks, and reports what is wrong in its own words)."""
    from envctl.docker.socket_api import get_status, image_path  # noqa: PLC0415

    try:
        status = get_status(socket_path, image_path(name), timeout=timeout)
    except TimeoutError:
        # The engine is there but silent: the CLI would wait as long again. Say so now.
        raise DockerError(f"checking for image {name}: the engine did not answer within {timeout:.0f}s",
                          hint=ENGINE_HINT) from None
    except OSError:
        return None
    if status == 200:
        return True
    if status == 404:
        return False
    return None


_preloading = threading.Lock()
_preload_started = [False]


def preload_sdk() -> None:
    """Import the docker SDK and agree on the API version now (in a spare thread), so the first
    Engine() does not wait for either."""
    import docker  # noqa: PLC0415
    import docker.errors  # noqa: F401, PLC0415

    with contextlib.suppress(EnvctlError):  # the caller's own Engine() will say what is wrong
        Engine(timeout=10).close()


def preload_sdk_in_background() -> None:
    """Import the SDK (~150 ms) in a thread, once per process. Called as `compose run` starts:
    compose takes longer than the import, and an import begun earlier would compete (for the
    GIL) with the work that has to come first."""
    with _preloading:
        if _preload_started[0] or "docker" in sys.modules:
            return
        _preload_started[0] = True
    threading.Thread(target=preload_sdk, daemon=True, name="import-sdk").start()
