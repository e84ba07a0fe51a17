"""Which compose files envctl works with, and which profiles are active: the settings first,
then compose's own variables (COMPOSE_FILE, COMPOSE_PATH_SEPARATOR, COMPOSE_PROFILES, from the
environment or the project's `.env`), then compose's discovery."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from envctl.errors import ConfigError
from envctl.files import read_dotenv
from envctl.settings import Settings

# Compose's own discovery order (compose-spec), then the bundled environment's place.
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_NAMES = ("compose.override.yaml", "compose.override.yml",
                  "docker-compose.override.yml", "docker-compose.override.yaml")
FALLBACK = Path("compose") / "compose.yaml"


def compose_variable(settings: Settings, name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """A COMPOSE_* variable as compose sees it: the environment's, else the project's `.env`."""
    environ = os.environ if environ is None else environ
    if name in environ:
        return environ[name]
    variables: dict[str, str] = {}
    for path in settings.resolved_env_files or (settings.project_dir / ".env",):
        variables.update(read_dotenv(path))  # with several env files, a later one wins
    return variables.get(name)


def env_files(settings: Settings) -> tuple[Path, ...]:
    """The `env_files` setting's files (compose's --env-file), each checked to be a file."""
    files = settings.resolved_env_files
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise ConfigError(f"env_files: not a file: {', '.join(missing)}",
                          hint="each entry is a file compose reads with --env-file")
    return files


def secret_sources(settings: Settings) -> list[Path]:
    """The `.env` files whose values compose may interpolate into what it prints: the
    `env_files`, else the `.env` in the project directory (the first compose file's folder)
    and in envctl's project folder."""
    if settings.env_files:
        return list(settings.resolved_env_files)
    found = [settings.project_dir / ".env"]
    with contextlib.suppress(ConfigError):  # no compose file: nothing will interpolate anything
        found.append(compose_files(settings)[0].parent / ".env")
    return list(dict.fromkeys(found))


_REDACTING: set[tuple[object, ...]] = set()  # the projects whose secrets this process masks


def redact_secrets(settings: Settings) -> None:
    """From now on, this process cuts the project's secret values out of everything it writes:
    its `.env` values and the variables named in the `secrets` setting."""
    from envctl import log  # noqa: PLC0415

    key = (settings.project_dir, settings.env_files, settings.compose_files, settings.secrets)
    if key in _REDACTING:  # every Environment asks: the CLI, each shard, the collector
        return
    log.redact_project(secret_sources(settings), settings.secrets)
    _REDACTING.add(key)


def active_profiles(settings: Settings, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The profiles compose would activate: COMPOSE_PROFILES plus the `profiles` setting."""
    from_compose = (compose_variable(settings, "COMPOSE_PROFILES", environ) or "").split(",")
    return tuple(dict.fromkeys(p.strip() for p in (*from_compose, *settings.profiles) if p.strip()))


def compose_files(settings: Settings, environ: Mapping[str, str] | None = None) -> list[Path]:
    """The compose files to use, absolute, each checked to exist: the setting, else COMPOSE_FILE
    (split on COMPOSE_PATH_SEPARATOR), else compose's own names."""
    root = settings.project_dir
    named, source = list(settings.compose_files), settings.sources.get("compose_files", "settings")
    if not named and (variable := compose_variable(settings, "COMPOSE_FILE", environ)):
        separator = compose_variable(settings, "COMPOSE_PATH_SEPARATOR", environ) or os.pathsep
        named, source = [p for p in variable.split(separator) if p], "COMPOSE_FILE"
    if named:
        files = [p if p.is_absolute() else root / p for p in map(Path, named)]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise ConfigError(f"{source}: compose file not found: {', '.join(missing)}")
        return files
    for name in COMPOSE_NAMES:
        if (root / name).is_file():
            found = [root / name]
            found += [root / o for o in OVERRIDE_NAMES if (root / o).is_file()][:1]
            return found
    if (root / FALLBACK).is_file():
        return [root / FALLBACK]
    raise ConfigError(
        f"no compose file in {root}",
        hint=f"add {COMPOSE_NAMES[0]} or {FALLBACK}, or set compose_files in envctl.toml",
    )
