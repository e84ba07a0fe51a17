"""The compose configuration as envctl uses it: read once per change of what it depends on
(cached on disk without secrets), envctl's label override on top of it, and the services a
start needs (the dependency closure, the one-shots).

`docker compose config` takes ~80 ms or more: the cache keeps it off `envctl test`'s path.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from envctl.docker.models import ComposeProject, reduce_config
from envctl.env import compose_references
from envctl.env.compose_yaml import Unfollowable
from envctl.files import write_private
from envctl.log import redact

CACHE_ENTRIES = 8  # reduced configurations kept per state folder (checkouts, file sets)
# In every key: raised when reduce_config keeps more, so that no entry an earlier envctl wrote
# (without the keys the refusal of unsafe services reads now) is ever taken.
REDUCED_FORM = b"reduced-form-3\0"
_INTERPOLATED = re.compile(rb"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_RESET_LIST = "__envctl_reset_list__"


def holds_a_secret(data: object) -> bool:
    """Whether any string in ``data`` holds a secret value (each string as it is: JSON's
    escapes would hide a value with quotes, backslashes or non-ASCII letters in it)."""
    if isinstance(data, str):
        return redact(data) != data
    if isinstance(data, dict):
        return any(holds_a_secret(k) or holds_a_secret(v) for k, v in data.items())
    if isinstance(data, (list, tuple)):
        return any(holds_a_secret(item) for item in data)
    return False


def config_key(files: list[Path]) -> str | None:
    """What `compose config` depends on: every file it reads for ``files`` (see
    ``compose_references.files_read``), the variables they interpolate, and compose's and
    Docker's own variables. None when a file they reference cannot be followed for sure."""
    # compose's env files when no --env-file is given (relative to the working directory).
    from_environment = [Path(p) for p in os.environ.get("COMPOSE_ENV_FILES", "").split(",") if p]
    try:
        found = compose_references.files_read([*files, *from_environment])
    except Unfollowable:  # not logged: the first log line costs structlog's import (~130 ms)
        return None
    digest = hashlib.sha256(REDUCED_FORM)
    names: set[str] = set()
    for path, data in found:
        # The length marks where one file ends: moving text between files changes the key.
        digest.update(str(path).encode() + (b"\0-\0" if data is None else b"\0%d\0" % len(data) + data))
        names.update(n.decode() for n in _INTERPOLATED.findall(data or b""))
    for key, value in sorted(os.environ.items()):
        if key in names or key.startswith(("COMPOSE_", "DOCKER_")):
            digest.update(f"{key}={value}\0".encode())
    return digest.hexdigest()[:20]


def cached_config(files: list[Path], folder: Path, read: Callable[[], Any], *,
                  docker_host: str | None = None) -> ComposeProject:
    """The configuration of ``files`` (compose files, then env files), from ``folder``'s cache
    when it has this key, else ``read()`` (`compose config`'s JSON) reduced and cached.

    The key covers every file compose reads: those given (and COMPOSE_ENV_FILES'), a `.env`
    beside them, and what their `include` (its files, env files, and the `.env` of its project
    folder), `extends: {file}`, `env_file` and `label_file` pull in, followed recursively and
    resolved as compose resolves them; with the variables they interpolate. When one cannot be
    followed for sure (an interpolated or remote path, YAML this reader does not take there, a
    file to include that is missing), nothing is cached: ``read()`` runs every time, so the
    refusal of unsafe test services never judges a stale configuration.

    Not keyed by project: envctl reads only service, network and volume keys, which the project
    name does not change, so shard and isolated projects share one entry. Nor by engine: the
    unsafe ways are judged as it is parsed, against ``docker_host``'s socket too."""
    key = config_key(files)
    if key is None:
        return ComposeProject.from_config(reduce_config(read()), docker_host=docker_host)
    # "reduced-": the entries of earlier versions held the whole configuration, secrets and
    # all; they are never read, and the sweep below removes them.
    cache = folder / f"reduced-config-{key}.json"
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = reduce_config(read())
        for old in folder.glob("config-*.json"):
            old.unlink(missing_ok=True)
        for stale in sorted(folder.glob("reduced-config-*.json"),
                            key=lambda p: p.stat().st_mtime)[:-CACHE_ENTRIES]:
            stale.unlink(missing_ok=True)
        if not holds_a_secret(data):  # an image or a command may interpolate a secret:
            write_private(cache, json.dumps(data))  # then it is read again each time
    return ComposeProject.from_config(data, docker_host=docker_host)


def label_override(config: ComposeProject, tags: dict[str, str], *, isolated: bool,
                   image_for: Callable[[str], str]) -> str:
    """A compose override (YAML) that puts ``tags`` on every service, network and volume the
    project creates. An isolated project also drops its published host ports (so any number run
    side by side) and names its built images with ``image_for``."""
    services: dict[str, Any] = {}
    for name, spec in config.services.items():
        services[name] = {"labels": tags}
        if isolated:
            services[name]["ports"] = _RESET_LIST
            if spec.image is None and spec.build_context is not None:
                services[name]["image"] = image_for(name)
    override: dict[str, Any] = {"services": services}
    networks = {n: {"labels": tags} for n, spec in config.networks.items() if not spec.external}
    volumes = {v: {"labels": tags} for v, spec in config.volumes.items() if not spec.external}
    if networks:
        override["networks"] = networks
    if volumes:
        override["volumes"] = volumes
    # `!reset []` (compose >= 2.24) drops the published ports; JSON is YAML, tags included.
    return json.dumps(override).replace(json.dumps(_RESET_LIST), "!reset []")


def with_dependencies(config: ComposeProject, wanted: Iterable[str]) -> list[str]:
    """``wanted`` and every service they depend on, in the compose files' order."""
    closure: list[str] = []
    stack = list(wanted)
    while stack:
        name = stack.pop()
        if name in closure:
            continue
        closure.append(name)
        stack += list(config.services[name].depends_on)
    return sorted(closure, key=list(config.services).index)


def one_shots(config: ComposeProject) -> frozenset[str]:
    """Services another waits on with service_completed_successfully: ready once exited 0."""
    return frozenset(dep for spec in config.services.values()
                     for dep, condition in spec.depends_on.items()
                     if condition == "service_completed_successfully")
