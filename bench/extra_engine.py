"""More Docker engines on this machine, as other machines' engines would be (the integration
tests and bench/engines.py start them): each `dockerd` has its own data-root, exec-root, pidfile
and socket, and runs in mount and network namespaces of its own (its bridges and iptables rules
stay its own; the client reaches it through its unix socket).
A *blind* engine has a tmpfs over a folder, so a bind mount of anything in it comes up empty in its
containers, exactly as on a remote host (docs: ../shared/docker-on-ci.md).

Its data-root is kept between sessions: the images handed over once (no registry here: `docker
save | docker load`) are there the next time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

START_WAIT = 60.0  # seconds for a daemon to answer
STOP_WAIT = 30.0  # seconds for a daemon to exit after SIGTERM


def can_start_engines() -> str | None:
    """Why more engines cannot be started here (None: they can)."""
    if os.geteuid() != 0:
        return "more engines need root (a dockerd each)"
    for tool in ("dockerd", "unshare", "ip"):
        if shutil.which(tool) is None:
            return f"no {tool} on PATH"
    return None


@dataclass
class ExtraEngine:
    """One more engine: ``host`` is its DOCKER_HOST value."""

    name: str
    blind: Path | None = None  # a folder its containers cannot see
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.root = Path(f"/run/envctl-test-{self.name}")
        self.data = Path(f"/var/lib/envctl-test-{self.name}")
        self.log = Path(f"/var/log/envctl-test-{self.name}.log")

    @property
    def host(self) -> str:
        return f"unix://{self.root}/docker.sock"

    @property
    def pidfile(self) -> Path:
        return self.root / "docker.pid"

    def start(self) -> None:
        """Start the daemon (a stale one of an earlier session is stopped first) and wait until it
        answers."""
        self.stop()
        self.root.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        hide = f"mount -t tmpfs none {self.blind} && " if self.blind is not None else ""
        script = (f"ip link set lo up && {hide}exec dockerd --data-root {self.data} "
                  f"--exec-root {self.root}/exec --pidfile {self.pidfile} -H {self.host} "
                  # A stop kills its containers after 1 s, not 15 (an engine lost, not drained).
                  "--shutdown-timeout 1")
        with self.log.open("ab") as log:
            # unshare, docker and dockerd from PATH, as setup-docker installs them
            argv = ["unshare", "-m", "-n", "--propagation", "private", "sh", "-c", script]
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_WAIT
        while self.docker("version", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"engine {self.name} did not answer in {START_WAIT:.0f}s; see {self.log}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the daemon by the pid in its pidfile (never by name: the main engine is a dockerd
        too), and wait for it to exit."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if self.process is not None:  # ours (unshare's sh exec'd dockerd): reaped, not a zombie
            self.process.wait(timeout=STOP_WAIT)
            self.process = None
            return
        deadline = time.monotonic() + STOP_WAIT  # a daemon an earlier session left
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def docker(self, *args: str, check: bool = True, stdin: bytes | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["docker", "-H", self.host, *args], input=stdin, capture_output=True,
                              timeout=timeout, check=check)

    def hand_over(self, *images: str) -> None:
        """Give it images of the main engine it lacks (no registry: saved and loaded)."""
        missing = [i for i in images if self.docker("image", "inspect", i, check=False).returncode != 0]
        if not missing:
            return
        saved = subprocess.run(["docker", "save", *missing], capture_output=True, timeout=300, check=True)
        self.docker("load", "-q", stdin=saved.stdout, timeout=300)

    def leftovers(self, project_prefix: str) -> list[str]:
        """envctl's containers, networks and volumes on it of projects named ``project_prefix``..."""
        found: list[str] = []
        for kind in ("container", "network", "volume"):
            extra = ["--all"] if kind == "container" else []
            listed = self.docker(kind, "ls", *extra, "--filter", "label=io.envctl.managed", "--format",
                                 '{{.Label "io.envctl.project"}}\t{{.ID}}').stdout.decode()
            found += [f"{kind} {line.split()[-1]}" for line in listed.splitlines()
                      if line.startswith(project_prefix)]
        return found
