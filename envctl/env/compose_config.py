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
from envctl.files import write_private
from envctl.log import redact

CACHE_ENTRIES = 8  # reduced configurations kept per state folder (checkouts, file sets)
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


def config_key(files: list[Path]) -> str:
    """What `compose config` depends on: the files, a .env beside them, the variables they
    interpolate, and compose's and Docker's own variables."""
    digest = hashlib.sha256()
    names: set[str] = set()
    for path in files:
        text = path.read_bytes()
        digest.update(str(path).encode() + b"\0" + text)
        names.update(n.decode() for n in _INTERPOLATED.findall(text))
        env_file = path.parent / ".env"
        if env_file.is_file():
            digest.update(env_file.read_bytes())
    for key, value in sorted(os.environ.items()):
        if key in names or key.startswith(("COMPOSE_", "DOCKER_")):
            digest.update(f"{key}={value}\0".encode())
    return digest.hexdigest()[:20]


def cached_config(files: list[Path], folder: Path, read: Callable[[], Any]) -> ComposeProject:
    """The configuration of ``files`` (compose files and env files), from ``folder``'s cache
    when it has this key, else ``read()`` (`compose config`'s JSON) reduced and cached.

    Not keyed by project: envctl reads only service, network and volume keys, which the project
    name does not change, so shard and isolated projects share one entry. Files pulled in by
    `include`, `extends` or `env_file` are not part of the key: `envctl up` re-reads after
    editing those."""
    # "reduced-": the entries of earlier versions held the whole configuration, secrets and
    # all; they are never read, and the sweep below removes them.
    cache = folder / f"reduced-config-{config_key(files)}.json"
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
    return ComposeProject.from_config(data)


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
