"""A docker SDK client for one engine (``host``, else the one DOCKER_HOST names), made once
per Engine.

The API version is agreed with one bounded call and reused for a few seconds: the collector
opens several clients on the way to the tests; a long-lived process asks again (the engine may
have been replaced).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from envctl.docker import timeouts
from envctl.docker.translate import translate_errors
from envctl.errors import EngineUnavailableError

if TYPE_CHECKING:
    import docker

_API_VERSIONS: dict[str, tuple[str, float]] = {}  # engine address -> (API version agreed, when)
API_VERSION_REUSE = 10.0  # seconds an agreed API version is reused without asking again
_SDK_IMPORT = threading.Lock()


def import_sdk(host: str | None = None) -> None:
    """Import the docker SDK for reaching ``host`` (None: DOCKER_HOST's engine).

    The SDK's transport imports paramiko whenever it is installed (with cryptography: ~200 ms
    and ~19 MB in every process that reaches an engine), for its ssh:// adapter alone. So the
    SDK is imported with paramiko hidden unless the engine is an ssh:// one; an ssh:// engine
    that comes later in the same process (a --shards parent's) gets the adapter from
    ``ssh_pipe.install``."""
    ssh = (host if host is not None else os.environ.get("DOCKER_HOST", "")).startswith("ssh://")
    with _SDK_IMPORT:
        if "docker" not in sys.modules and "paramiko" not in sys.modules and not ssh:
            sys.modules["paramiko"] = cast("Any", None)  # `import paramiko` raises ImportError now
            try:
                import docker  # noqa: F401, PLC0415  # lazy: ~120 ms
            finally:
                del sys.modules["paramiko"]


def connect(timeout: float, *, host: str | None = None,
            clock: Callable[[], float] = time.monotonic) -> docker.DockerClient:
    """A client whose every HTTP call is bounded by ``timeout`` (see :mod:`timeouts`), to the
    engine at ``host`` (a DOCKER_HOST value; None: DOCKER_HOST's); ``clock`` dates the API
    version agreed."""
    import_sdk(host)
    import docker  # noqa: PLC0415
    from docker.constants import DEFAULT_DOCKER_API_VERSION  # noqa: PLC0415

    with translate_errors("connecting to Docker", host):
        kwargs = client_kwargs(host)  # a bad DOCKER_CERT_PATH fails here: a DockerError too
        # "auto" negotiates the API version with one bounded call, so a dead DOCKER_HOST
        # fails here, inside the deadline, and newer engines that dropped old APIs work.
        address = str(kwargs["base_url"])
        if address.startswith("ssh://"):
            try:
                from envctl.docker import ssh_pipe  # noqa: PLC0415  # paramiko comes with it: ssh only
            except ImportError as exc:  # the SDK's ssh module imports paramiko, even to run `ssh`
                raise EngineUnavailableError(f"reaching {address} needs {exc.name or 'paramiko'}",
                                             hint="pip install 'envctl[ssh]'") from None
            ssh_pipe.install()  # its reads keep the deadline, as a socket's do
        cached = _API_VERSIONS.get(address)
        version = cached[0] if cached and clock() - cached[1] < API_VERSION_REUSE else "auto"
        tls = kwargs.get("tls") is not None
        client = docker.DockerClient(
            **kwargs,
            timeout=timeouts.socket_seconds(timeout),
            # With TLS, the version is asked once the session verifies as the CLI does (below).
            version=DEFAULT_DOCKER_API_VERSION if tls and version == "auto" else version,
            # An ssh:// engine through the `ssh` program, as the docker CLI reaches it (its
            # config, keys and known hosts), not through paramiko.
            use_ssh_client=address.startswith("ssh://"),
        )
        if tls:
            verify_as_the_cli(client.api)
            if version == "auto":
                sdk = cast("Any", client.api)  # the SDK's stubs omit its private helpers
                sdk._version = sdk._retrieve_server_version()
    if version == "auto":
        _API_VERSIONS[address] = (str(client.api.api_version), clock())
    return client


def verify_as_the_cli(session: Any) -> None:
    """Make a TLS engine's session verify with the certificates it was given (the context's
    ca.pem, DOCKER_CERT_PATH's), as the docker CLI does: requests would put REQUESTS_CA_BUNDLE
    or CURL_CA_BUNDLE in their place on every request (a machine's public CAs, which never
    signed an engine's certificate). Proxies from the environment still apply."""
    merge = session.merge_environment_settings

    def merged(url: str, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        settings: dict[str, Any] = merge(url, proxies, stream, verify, cert)
        settings["verify"] = session.verify
        return settings

    session.merge_environment_settings = merged


def client_kwargs(host: str | None = None) -> dict[str, Any]:
    """Connection parameters from DOCKER_HOST (or ``host``) / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH
    (for ``host``, as ``engine_environment`` gives them: its context's TLS settings)."""
    from docker.utils import kwargs_from_env  # noqa: PLC0415

    from envctl.docker.cli_config import engine_environment  # noqa: PLC0415

    environment = dict(os.environ) if host is None else dict(engine_environment(host) or {})
    kwargs: dict[str, Any] = dict(kwargs_from_env(environment=environment))
    kwargs.setdefault("base_url", "unix:///var/run/docker.sock")
    return kwargs
