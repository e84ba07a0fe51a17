"""The names envctl gives a compose project's things: the project itself (compose's own rule),
a throwaway copy of it, a service's built image, and the lock that serializes its starts.

Pure functions of values, so every rule is testable without an engine or a compose file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from envctl.settings import normalize_project_name


def project_name(declared: str | None, first_file: Path) -> str:
    """The name compose gives a project: the one it declares (COMPOSE_PROJECT_NAME or the
    top-level `name:`, as `compose config` resolved it), else the first file's folder."""
    if declared:
        return normalize_project_name(declared)
    return normalize_project_name(first_file.parent.resolve().name)


def isolated_name(base: str, token: str) -> str:
    """A throwaway project (`--isolated`, shards), named after the user's so it is recognisable."""
    return f"{base}-iso-{token}"


def image_name(image: str | None, project: str, service: str) -> str:
    """The image a service runs: its own `image:`, else what compose names a build."""
    return image or f"{project}-{service}"


def engine_identity(environ: Mapping[str, str] | None = None) -> str:
    """Which engine this process talks to, as a name: DOCKER_HOST, else the context."""
    env = os.environ if environ is None else environ
    return env.get("DOCKER_HOST") or f"context:{env.get('DOCKER_CONTEXT') or 'default'}"


def start_lock_name(project: str, environ: Mapping[str, str] | None = None) -> str:
    """The file name of a project's start lock: one per engine and project, whatever the
    checkout (two checkouts of one project share the engine's containers and networks)."""
    key = hashlib.sha256(f"{engine_identity(environ)}\0{project}".encode()).hexdigest()[:32]
    return f"{key}.start.lock"
