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

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

START_WAIT = 60.0  # seconds for a daemon to answer
STOP_WAIT = 30.0  # seconds for a daemon to exit after SIGTERM


SSH_ADDRESS = "127.0.0.3"  # a loopback address of its own: the client's settings for it touch nothing else
SSH_KEY = Path("/root/.ssh/envctl_test")


def can_serve_ssh() -> str | None:
    """Why an engine cannot be reached as ssh:// here (None: it can)."""
    for tool in ("/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen"):
        if not Path(tool).exists():
            return f"no {tool} (scripts/setup-ssh installs it)"
    return None


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
        too), and wait for it to exit; its sshd too."""
        self.stop_ssh()
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

    def serve_ssh(self, port: int = 2222) -> str:
        """An sshd on SSH_ADDRESS:``port`` whose sessions talk to this engine (sshd sets their
        DOCKER_HOST): the engine reached as a remote one is, by the docker CLI's `ssh` and
        `docker system dial-stdio` on the far side; its ssh:// address. Root's key and its
        client settings for SSH_ADDRESS are made once (~/.ssh/config: one block, that address)."""
        folder = self.root / "ssh"
        folder.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
        for key in (folder / "host_key", SSH_KEY):
            if not key.exists():
                key.parent.mkdir(mode=0o700, exist_ok=True)
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        public = SSH_KEY.with_suffix(".pub").read_text()
        authorized = SSH_KEY.parent / "authorized_keys"
        if public not in (authorized.read_text() if authorized.exists() else ""):
            with authorized.open("a") as handle:
                handle.write(public)
        config = SSH_KEY.parent / "config"
        block = (f"# envctl's tests: engines reached over SSH (bench/extra_engine.py)\nHost {SSH_ADDRESS}\n"
                 f"    User root\n    IdentityFile {SSH_KEY}\n    IdentitiesOnly yes\n"
                 "    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n    LogLevel ERROR\n"
                 # A lost link is noticed (the SDK's reads through `ssh` have no deadline of their own).
                 "    BatchMode yes\n    ConnectTimeout 10\n"
                 "    ServerAliveInterval 5\n    ServerAliveCountMax 3\n"
                 # One connection shared by the many short ones the docker CLI and SDK open.
                 "    ControlMaster auto\n    ControlPath /run/envctl-test-ssh-%C\n    ControlPersist 60\n")
        if f"Host {SSH_ADDRESS}\n" not in (config.read_text() if config.exists() else ""):
            with config.open("a") as handle:
                handle.write(("\n" if config.exists() else "") + block)
        (folder / "sshd_config").write_text(
            f"Port {port}\nListenAddress {SSH_ADDRESS}\nHostKey {folder / 'host_key'}\n"
            f"PidFile {folder / 'sshd.pid'}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            f"KbdInteractiveAuthentication no\nUsePAM no\nSetEnv DOCKER_HOST={self.host}\n")
        self.stop_ssh()
        subprocess.run(["/usr/sbin/sshd", "-f", str(folder / "sshd_config"), "-E", str(self.log)], check=True)
        address = f"ssh://root@{SSH_ADDRESS}:{port}"
        deadline = time.monotonic() + START_WAIT
        while subprocess.run(["docker", "-H", address, "version"], capture_output=True, timeout=60,
                             check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"engine {self.name} did not answer over SSH; see {self.log}")
            time.sleep(0.2)
        return address

    def drop_ssh(self, port: int = 2222) -> None:
        """Cut the link as a network would: its sshd and every session it serves killed, and
        the client's shared connection ended; new connections are refused until serve_ssh."""
        try:
            sshd = int((self.root / "ssh" / "sshd.pid").read_text().strip())
        except (OSError, ValueError):
            return
        sessions = subprocess.run(["pgrep", "-P", str(sshd)], capture_output=True, text=True,
                                  timeout=30, check=False).stdout.split()
        for pid in [sshd, *map(int, sessions)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["ssh", "-O", "exit", "-p", str(port), f"root@{SSH_ADDRESS}"], capture_output=True,
                       timeout=30, check=False)

    def stop_ssh(self) -> None:
        """Stop its sshd, if one runs (by the pid in its pidfile)."""
        with contextlib.suppress(OSError, ValueError):  # none runs
            os.kill(int((self.root / "ssh" / "sshd.pid").read_text().strip()), signal.SIGTERM)

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


@dataclass
class TlsFront:
    """A TCP address that speaks TLS for an engine's unix socket, as a remote engine over
    `tcp://` with certificates does: it accepts only clients with a certificate of its CA.
    Started by ``serve``; it lives in a thread of this process until ``close``."""

    socket_path: str
    folder: Path

    def serve(self) -> str:
        """Make the CA, the server's and a client's certificates (in ``folder``), listen on a
        free port of 127.0.0.1; its tcp:// address."""
        self.folder.mkdir(parents=True, exist_ok=True)
        make_certificates(self.folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.folder / "ca.pem"))
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(self.folder / "server-cert.pem", self.folder / "server-key.pem")
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._context = context
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()
        return f"tcp://127.0.0.1:{self._listener.getsockname()[1]}"

    def client_files(self) -> dict[str, Path]:
        """What `docker context create --docker ca=,cert=,key=` takes."""
        return {name: self.folder / f"{name}.pem" for name in ("ca", "cert", "key")}

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                raw, _address = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve_one, args=(raw,), daemon=True).start()

    def _serve_one(self, raw: socket.socket) -> None:
        try:
            client = self._context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()  # no certificate of our CA: refused, as dockerd --tlsverify refuses it
            return
        engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            engine.connect(self.socket_path)
        except OSError:
            client.close()
            return
        threading.Thread(target=_pump, args=(engine, client), daemon=True).start()
        _pump(client, engine)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Bytes from ``source`` to ``sink`` until either ends; then both are closed (TLS has no
    half-close: the engine's end of a stream ends the client's too)."""
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.close()


def make_certificates(folder: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, by openssl(1): named
    as the docker CLI names them (ca.pem, cert.pem, key.pem for the client)."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *key, "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=envctl test CA")
    # Key identifiers too: Python 3.13's strict verification wants them.
    ids = "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    for name, subject, extension in (("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\n"),
                                     ("client", "/CN=envctl", "extendedKeyUsage=clientAuth\n")):
        (folder / f"{name}.ext").write_text(extension + ids)
        openssl("req", *key, "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", "-subj", subject)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-out", f"{name}-cert.pem", "-days", "2", "-extfile", f"{name}.ext")
    (folder / "client-cert.pem").rename(folder / "cert.pem")
    (folder / "client-key.pem").rename(folder / "key.pem")
