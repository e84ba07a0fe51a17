"""What the docker CLI would decide from its config and environment: which context is in use,
and where the engine's socket is. Asked before envctl skips the CLI for a call (the compose
plugin run directly, an image looked up on the socket); anything unusual keeps the CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_SOCKET = "/var/run/docker.sock"


def engine_environment(host: str | None) -> Mapping[str, str] | None:
    """The environment a docker process for the engine ``host`` sees (None: ours, as it is):
    DOCKER_HOST set, DOCKER_CONTEXT (which would win over it) dropped, and for a tcp:// engine
    of a docker context, that context's TLS settings (``context_tls``)."""
    from envctl.docker.context_tls import with_tls  # noqa: PLC0415  # only for another engine

    if host is None:
        return None
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_CONTEXT"}
    env["DOCKER_HOST"] = host
    return with_tls(env, host, config_dir(env))


def engine_prefix(host: str | None) -> list[str]:
    """What goes before a docker command so that it talks to ``host`` (nothing for this
    process's own engine): env(1) giving it ``engine_environment``'s changes."""
    from envctl.docker.context_tls import TLS_VARIABLES  # noqa: PLC0415

    env = engine_environment(host)
    if env is None:
        return []
    ours = os.environ
    unset = [part for name in TLS_VARIABLES if name in ours and name not in env for part in ("-u", name)]
    tls = [f"{name}={env[name]}" for name in TLS_VARIABLES if name in env and ours.get(name) != env[name]]
    return ["env", "-u", "DOCKER_CONTEXT", *unset, f"DOCKER_HOST={host}", *tls]


def config_dir(env: Mapping[str, str]) -> Path | None:
    """$DOCKER_CONFIG, else ~/.docker; None without HOME (the CLI would look the home up in the
    password database: left to it)."""
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"])
    if not env.get("HOME"):
        return None
    return Path(env["HOME"]) / ".docker"


def read_config(env: Mapping[str, str]) -> dict[str, Any] | None:
    """The CLI's config.json ({} when there is none); None when it cannot be read as the CLI would."""
    folder = config_dir(env)
    if folder is None:
        return None
    try:
        text = (folder / "config.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError):
        return None
    try:
        config = json.loads(text) if text.strip() else {}
    except ValueError:
        return None
    return config if isinstance(config, dict) else None


def plain_default_context(env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The config, when the CLI would use its default context (DOCKER_HOST or the local socket)
    and has no extra plugin folders; else None."""
    env = os.environ if env is None else env
    if env.get("DOCKER_CONTEXT", "") not in ("", "default"):
        return None
    config = read_config(env)
    if config is None or config.get("cliPluginsExtraDirs") or \
            config.get("currentContext", "") not in ("", "default"):
        return None
    return config


def local_socket(env: Mapping[str, str] | None = None) -> str | None:
    """The path of the engine's unix socket when the CLI would talk to one on this machine."""
    env = os.environ if env is None else env
    if plain_default_context(env) is None:
        return None
    host = env.get("DOCKER_HOST", "")
    if not host:
        return DEFAULT_SOCKET
    if host.startswith("unix://") and len(host) > len("unix://"):
        return host[len("unix://"):]
    return None
