"""Containers, through the SDK's low-level API: inspect, list, wait, signal, copy out, remove,
and a probe container in another's network. Output streams are in :mod:`output`."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from envctl.docker import timeouts
from envctl.docker.endpoints import container_endpoints
from envctl.docker.models import ContainerState
from envctl.docker.translate import translate_errors
from envctl.errors import ContainerGoneError, DockerError, EngineUnavailableError

if TYPE_CHECKING:
    from docker import APIClient

# Bytes of one file copied out of a container (JUnit, the timeout marker): one past the largest
# cap the exchange copies a result under, so a file cut here is still seen there as too large,
# and the run's record says so.
COPY_CAP = (512 << 20) + 1
HELPER_MEMORY = 64 << 20  # a confined one-shot helper's memory (df needs a few MiB)
HELPER_PIDS = 16  # and its processes
ARCHIVE_CHUNK = 1 << 20  # bytes of the engine's archive read at a time
ARCHIVE_SLACK = 1 << 20  # archive bytes beyond the file's own: its tar headers (a long name, xattrs)


def _open_archive(api: APIClient, container_id: str, path: str) -> Any:
    """The engine's tar of ``path`` in the container, as an HTTP response whose reads keep the
    client's deadline: the SDK's get_archive lifts the socket's timeout for them, and a copy
    (a bounded number of bytes) needs no such thing, where an engine that stops answering
    mid-archive would hang the collector."""
    sdk = cast("Any", api)  # the SDK's stubs omit its private helpers (streams.py uses them too)
    response = sdk._get(sdk._url("/containers/{0}/archive", container_id), params={"path": path},
                        stream=True, headers={"Accept-Encoding": "identity"})
    sdk._raise_for_status(response)  # a missing path is the SDK's NotFound, as get_archive gives
    return response


class _ChunkReader(io.RawIOBase):
    """The engine's archive (an HTTP response) as a file ``tarfile`` reads in stream mode,
    ending after ``budget`` bytes whatever the archive holds; closing it closes the response."""

    def __init__(self, response: Any, budget: int) -> None:
        super().__init__()
        self.response = response
        self.chunks: Iterator[bytes] = iter(response.iter_content(ARCHIVE_CHUNK, False))
        self.left = budget
        self.pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending and self.left > 0:
            chunk = next(self.chunks, b"")
            if not chunk:
                return 0
            self.pending = memoryview(chunk)[:self.left]
            self.left -= len(self.pending)
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size

    def close(self) -> None:
        self.response.close()  # what is left of the archive is never read
        super().close()


def _write_capped(source: IO[bytes], dest: Path, cap: int) -> None:
    """Up to ``cap`` bytes of ``source`` into ``dest``; a failed write (a full disk) keeps what
    was written, for the exchange's copy (which says what it found) to judge."""
    copied = 0
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            while copied < cap and (block := source.read(min(ARCHIVE_CHUNK, cap - copied))):
                out.write(block)
                copied += len(block)
    except OSError:
        pass


class Containers:
    """The containers of one engine (``api``: its SDK client's low-level API; ``docker_host``:
    its address, which says whether its containers' own addresses are this machine's)."""

    def __init__(self, api: APIClient, docker_host: str | None = None) -> None:
        self.api = api
        self.docker_host = docker_host

    def state(self, container_id: str) -> ContainerState | None:
        """One inspect; ``None`` when the container is gone."""
        try:
            with translate_errors("inspecting a container", self.docker_host):
                data = self.api.inspect_container(container_id)
        except ContainerGoneError:
            return None
        return ContainerState.from_inspect(data)

    def endpoints(self, container_id: str, port: int) -> list[tuple[str, int]]:
        """Where this machine can reach the container's TCP ``port``: its published binding (on
        the engine's host), then, with a local engine on Linux, its address on each network."""
        try:
            with translate_errors("inspecting a container", self.docker_host):
                data = self.api.inspect_container(container_id)
        except ContainerGoneError:
            return []
        host = os.environ.get("DOCKER_HOST", "") if self.docker_host is None else self.docker_host
        return container_endpoints(data, port, host, sys.platform)

    def labelled(self, labels: dict[str, str] | list[str], *, all_: bool = True) -> list[ContainerState]:
        """Every container carrying ``labels`` (a dict or ``key=value`` strings), inspected."""
        label_filter = [f"{k}={v}" for k, v in labels.items()] if isinstance(labels, dict) else labels
        with translate_errors("listing containers", self.docker_host):
            summaries = self.api.containers(all=all_, filters={"label": label_filter})
        states = []
        for summary in summaries:
            state = self.state(str(summary["Id"]))
            if state is not None:
                states.append(state)
        return states

    def logs_tail(self, container_id: str, lines: int = 20) -> list[str]:
        """The last ``lines`` of its stored log (stdout and stderr); none when it is gone."""
        try:
            with translate_errors("reading container logs", self.docker_host):
                raw: bytes = self.api.logs(container_id, tail=lines, stdout=True, stderr=True)
        except ContainerGoneError:
            return []
        return raw.decode("utf-8", errors="replace").splitlines()[-lines:]

    def wait_exit(self, container_id: str, timeout: float | None = None) -> int | None:
        """Block until the container exits: its exit code, or None if ``timeout`` passed first.

        Without ``timeout`` the wait is the engine's own (its client's socket timeout, if any)."""
        import requests.exceptions  # noqa: PLC0415

        try:
            with translate_errors("waiting for the test container", self.docker_host):
                result = self.api.wait(container_id, timeout=timeouts.wait_seconds(timeout))
        except EngineUnavailableError as exc:
            timed_out = isinstance(exc.__cause__, (requests.exceptions.ReadTimeout,
                                                   requests.exceptions.ConnectionError))
            if timeout is not None and timed_out and self.engine_answers():
                return None
            raise
        return int(result.get("StatusCode", -1))

    def engine_answers(self) -> bool:
        """Whether the engine answers a ping (a wait that timed out, not an engine that died)."""
        try:
            with translate_errors("pinging the engine", self.docker_host):
                self.api.ping()
        except EngineUnavailableError:
            return False
        return True

    def kill(self, container_id: str, signal: str) -> bool:
        """Send ``signal``; False when the container is not running any more."""
        try:
            with translate_errors("signalling the test container", self.docker_host):
                self.api.kill(container_id, signal=signal)
        except DockerError:
            return False
        return True

    def copy_file_out(self, container_id: str, path: str, dest: Path, *, cap: int = COPY_CAP) -> bool:
        """Copy one regular file out of a (stopped) container to ``dest`` (0600): at most ``cap``
        bytes of it, read from the engine's archive as it streams (nothing spooled); whether
        ``dest`` was written. Absent, or not a regular file: False, nothing written. A write
        that fails (a full disk) keeps what was written, for the exchange's copy to judge."""
        import tarfile  # noqa: PLC0415

        try:
            with translate_errors(f"copying {path} out of the test container", self.docker_host):
                response = _open_archive(self.api, container_id, path)
                with contextlib.closing(_ChunkReader(response, cap + ARCHIVE_SLACK)) as archive, \
                        tarfile.open(fileobj=archive, mode="r|") as tar:
                    member = tar.next()  # the path itself; a folder's members are never read
                    source = tar.extractfile(member) if member is not None and member.isfile() else None
                    if source is None:
                        return False
                    _write_capped(source, dest, cap)
        except (ContainerGoneError, tarfile.TarError):
            return False
        return True

    def probe_in_network(self, image: str, target: str, argv: list[str], *, labels: dict[str, str],
                         seconds: float, on_created: Callable[[str], None] = lambda _id: None,
                         ) -> tuple[bool, str]:
        """Run ``argv`` in a container of ``image`` sharing ``target``'s network namespace, at
        most ``seconds`` (+ a start's grace); (exited 0, what it printed last). It is removed
        whatever happens (``on_created`` learns its id, to remove it sooner); its labels let
        `down` find it if this process dies first."""
        return self.run_once(image, argv, labels=labels, seconds=seconds, on_created=on_created,
                             network_mode=f"container:{target}", what="the probe")

    def run_once(self, image: str, argv: list[str], *, labels: dict[str, str], seconds: float,
                 on_created: Callable[[str], None] = lambda _id: None, network_mode: str | None = None,
                 confined: bool = False, what: str = "a helper") -> tuple[bool, str]:
        """Run ``argv`` in a container of ``image`` to its end, at most ``seconds`` (+ a start's
        grace); (exited 0, the last line it printed, 300 characters at most). Removed whatever
        happens; labelled, so `down` finds it if this process dies first. ``confined``: no
        network, no capabilities, a read-only root and little memory and processes (the image
        may be the untrusted test image; what it runs needs none of them)."""
        limits: dict[str, Any] = {"network_mode": "none", "cap_drop": ["ALL"],
                                  "security_opt": ["no-new-privileges"], "read_only": True,
                                  "mem_limit": HELPER_MEMORY, "pids_limit": HELPER_PIDS} if confined \
            else {"network_mode": network_mode}
        with translate_errors(f"starting {what}'s container", self.docker_host):
            created = self.api.create_container(
                image, command=argv[1:], entrypoint=argv[:1], labels=labels,
                host_config=self.api.create_host_config(**limits))
        container = str(created["Id"])
        limit = seconds + timeouts.PROBE_START
        try:
            on_created(container)
            with translate_errors(f"starting {what}'s container", self.docker_host):
                self.api.start(container)
            try:
                code = self.wait_exit(container, timeout=limit)
            except ContainerGoneError:
                return False, f"{what} was stopped"
            if code is None:
                return False, f"{what} did not end within {limit:.0f}s"
            with translate_errors(f"reading {what}'s output", self.docker_host):
                raw = self.api.logs(container, stdout=True, stderr=True, tail=5)
            text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else ""
            said = text.strip().splitlines()
            return code == 0, (said[-1][:300] if said else f"{what} exited {code}")
        finally:
            with contextlib.suppress(DockerError):
                self.remove(container)

    def free_disk(self, image: str, *, labels: dict[str, str]) -> int | None:
        """Bytes free where the engine keeps containers, as a container of ``image`` sees its own
        root (`df -Pk /`: the filesystem under the engine's data root); None when it cannot be
        told (no df in the image, an answer not in df's shape)."""
        ok, line = self.run_once(image, ["df", "-Pk", "/"], labels=labels, seconds=timeouts.CHECK,
                                 confined=True, what="a disk look")
        return parse_df_free(line) if ok else None

    def sees(self, path: str, image: str, *, labels: dict[str, str]) -> bool:
        """Whether the engine sees this machine's file ``path`` (one just made, named for this
        look) at that path: a container of ``image`` binding it is created (never started) only
        when the engine's machine has it. Asked of the engine, never guessed from its address:
        a local socket may lead to a daemon in another mount namespace or a VM."""
        import docker.errors  # noqa: PLC0415  # lazy: the SDK costs ~150 ms to import
        import docker.types  # noqa: PLC0415

        mount = docker.types.Mount("/envctl-visibility", path, type="bind", read_only=True)
        with translate_errors("looking whether the engine sees this machine's folders", self.docker_host):
            try:
                created = self.api.create_container(
                    image, command=["true"], labels=labels,
                    host_config=self.api.create_host_config(mounts=[mount]))
            except docker.errors.APIError as exc:
                if exc.status_code == 400 and "does not exist" in str(exc.explanation or exc):
                    return False  # "invalid mount config ...: bind source path does not exist"
                raise
        with contextlib.suppress(DockerError):
            self.remove(str(created["Id"]))
        return True

    def remove(self, container_id: str) -> None:
        """Force-remove it with its anonymous volumes; gone already is fine."""
        try:
            with translate_errors("removing the test container", self.docker_host):
                self.api.remove_container(container_id, force=True, v=True)
        except ContainerGoneError:
            pass


def parse_df_free(line: str) -> int | None:
    """The bytes available in a POSIX `df -Pk` data line (filesystem, 1024-blocks, used,
    available, capacity, mount); None for anything else."""
    fields = line.split()
    if len(fields) < 6 or not all(re.fullmatch(r"[0-9]{1,20}", fields[i]) for i in (1, 3)):
        return None  # only ASCII digits: str.isdigit takes "²", which int() refuses
    return int(fields[3]) * 1024
