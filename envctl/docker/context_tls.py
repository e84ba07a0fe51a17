"""The TLS settings of a ``tcp://`` engine named by a docker context: the CLI keeps a context's
certificates beside its metadata, and a process handed only the address (``DOCKER_HOST``) would
talk to it in plain text. Read from the context store, so a run recorded with the address finds
them again in any later process, as the CLI would use them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from envctl.files import read_regular

META_CAP = 64 << 10  # bytes of a context's meta.json read (the CLI's are a few hundred)
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")  # what DOCKER_CERT_PATH must hold, as the CLI names them
# The variables a TLS setting is made of: the context's replace the user's for its engine.
TLS_VARIABLES = ("DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")


def context_tls(host: str, folder: Path | None, name: str | None = None) -> dict[str, str] | None:
    """For a ``tcp://`` engine, the TLS variables of a docker context whose docker endpoint is
    ``host``: context ``name`` when it is one, else the first such by name. Its certificates
    folder, verified unless the context skips verification. None when no context names it with
    certificates: the caller keeps what the user's environment says. ``folder``: the CLI's
    config folder (None: none)."""
    if not host.startswith("tcp://") or folder is None:
        return None
    found = []
    for meta in (folder / "contexts" / "meta").glob("*/meta.json"):
        endpoint = _docker_endpoint(meta)
        # Only where the CLI keeps that name's files: a folder named otherwise is not its.
        if endpoint is not None and endpoint[0] == host and meta.parent.name == _digest(endpoint[1]):
            found.append((endpoint[1] != name, endpoint[1], endpoint[2]))
    for _other, context, skip_verify in sorted(found):
        certs = folder / "contexts" / "tls" / _digest(context) / "docker"
        if all((certs / file).is_file() for file in TLS_FILES):
            return {"DOCKER_CERT_PATH": str(certs), "DOCKER_TLS": "1"} if skip_verify else \
                {"DOCKER_CERT_PATH": str(certs), "DOCKER_TLS_VERIFY": "1"}
    return None


def _digest(name: str) -> str:
    """The folder the CLI keeps context ``name``'s files in."""
    return hashlib.sha256(name.encode()).hexdigest()


def _docker_endpoint(meta: Path) -> tuple[str, str, bool] | None:
    """(host, context name, skips TLS verification) of a context's docker endpoint; None for a
    file that is not one (unreadable, too large, not the CLI's shape)."""
    try:  # a regular file only (no link followed, no FIFO waited on), capped
        data = json.loads(read_regular(meta, META_CAP))
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return None
    if not isinstance(data, dict) or not isinstance(data.get("Name"), str):
        return None
    endpoints = data.get("Endpoints")
    docker = endpoints.get("docker") if isinstance(endpoints, dict) else None
    if not isinstance(docker, dict) or not isinstance(docker.get("Host"), str):
        return None
    return docker["Host"], data["Name"], docker.get("SkipTLSVerify") is True


def with_tls(env: dict[str, str], host: str, folder: Path | None) -> dict[str, str]:
    """``env`` (for a process talking to ``host``) with the TLS variables of a context in the
    CLI's config ``folder`` in place of the user's, when one gives them."""
    tls = context_tls(host, folder)
    if tls is None:
        return env
    return {**{k: v for k, v in env.items() if k not in TLS_VARIABLES}, **tls}
