"""The on_finish hook runs a command on this machine: the file that names it must be out of the
tests' reach. A test service that mounts that file's folder writable could change the command
the next run's end executes here, which the test container must never do (it is untrusted)."""

from __future__ import annotations

from pathlib import Path

from envctl.errors import ConfigError
from envctl.settings import Settings


def settings_file(source: str) -> Path | None:
    """The file a setting's source names (`/p/envctl.toml`, `/p/pyproject.toml [tool.envctl]`);
    None for the environment, a flag or the default."""
    if source.startswith(("env ", "flag ")) or source == "default":
        return None
    return Path(source.split(" [", 1)[0])


def refuse_a_writable_hook(settings: Settings, service: str, writable_binds: tuple[str, ...]) -> None:
    """ConfigError when ``on_finish`` comes from a file under a bind mount the test service can
    write (the project folder mounted read-write, typically)."""
    if not settings.on_finish:
        return
    named_in = settings_file(settings.sources.get("on_finish", "default"))
    if named_in is None:
        return
    where = named_in.resolve()
    for source in writable_binds:
        if where.is_relative_to(Path(source).resolve()):
            raise ConfigError(
                f"on_finish is set in {named_in}, which the test service {service!r} can write "
                f"(it mounts {source} read-write): the tests could change what envctl runs on "
                "this machine",
                hint="mount it read-only (`:ro`), or set the hook in the environment "
                     "(ENVCTL_ON_FINISH) instead of the project's files")
