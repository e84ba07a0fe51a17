"""Docker contexts: which engine a context names."""

from __future__ import annotations

import os
import subprocess

from envctl.docker import timeouts
from envctl.errors import ConfigError, EngineUnavailableError


def context_host(name: str) -> str:
    """The engine address (a DOCKER_HOST value) of docker context ``name``; nothing changes."""
    try:
        proc = subprocess.run(["docker", "context", "inspect", name, "--format",  # noqa: S607  # docker from PATH, as python-on-whales finds it
                               "{{.Endpoints.docker.Host}}"],
                              capture_output=True, text=True, timeout=timeouts.CONTEXT_LOOKUP,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineUnavailableError(f"cannot read docker context {name!r}: {exc}") from None
    host = proc.stdout.strip()
    if proc.returncode != 0 or not host:
        raise ConfigError(f"docker context {name!r}: {proc.stderr.strip() or 'no docker endpoint'}",
                          hint="`docker context ls` lists the contexts")
    return host


ENGINE_SCHEMES = ("unix", "tcp", "ssh")  # what a DOCKER_HOST may say on Linux


def engine_address(name: str) -> str:
    """The address (a DOCKER_HOST value) of an engine named as the user names one: a
    DOCKER_HOST-style URL as it is, else a docker context's endpoint."""
    if "://" in name:
        scheme = name.split("://", 1)[0]
        if scheme not in ENGINE_SCHEMES:
            raise ConfigError(f"engine {name!r}: envctl reaches engines by {', '.join(ENGINE_SCHEMES)}",
                              hint="name a docker context, or an address such as ssh://user@host")
        return name
    return context_host(name)


def use_context(name: str) -> str:
    """Point this process (and every process it starts) at docker context ``name``.

    The context's endpoint becomes DOCKER_HOST, which the docker CLI (and so python-on-whales
    and compose) and the SDK both honour, as do collectors started later; a tcp:// context's
    certificates come with it (``context_tls``), in place of the user's TLS variables.
    """
    from envctl.docker.cli_config import config_dir  # noqa: PLC0415
    from envctl.docker.context_tls import TLS_VARIABLES, context_tls  # noqa: PLC0415

    host = context_host(name)
    tls = context_tls(host, config_dir(os.environ), name)
    os.environ["DOCKER_HOST"] = host
    os.environ.pop("DOCKER_CONTEXT", None)
    if tls is not None:
        for variable in TLS_VARIABLES:
            os.environ.pop(variable, None)
        os.environ.update(tls)
    return host
