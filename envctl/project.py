"""Which compose files and project name envctl works with, from the settings."""

from __future__ import annotations

from pathlib import Path

from envctl.errors import ConfigError
from envctl.settings import Settings

# Compose's own discovery order (compose-spec), then the bundled environment's place.
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_NAMES = ("compose.override.yaml", "compose.override.yml",
                  "docker-compose.override.yml", "docker-compose.override.yaml")
FALLBACK = Path("compose") / "compose.yaml"


def compose_files(settings: Settings) -> list[Path]:
    """The compose files to use, absolute, each checked to exist."""
    root = settings.project_dir
    if settings.compose_files:
        files = [p if p.is_absolute() else root / p for p in map(Path, settings.compose_files)]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            source = settings.sources.get("compose_files", "settings")
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
