"""Files of this machine put on an engine that cannot see them (a remote one, or one in a mount
namespace or VM of its own): a volume filled from a tar stream, through a helper container that
is created on the volume and never started."""

from __future__ import annotations

import contextlib
from typing import IO, TYPE_CHECKING

from envctl.docker.translate import translate_errors

if TYPE_CHECKING:
    from docker import APIClient

FILL_TARGET = "/envctl-fill"  # where the helper has the volume


def fill_volume(api: APIClient, image: str, volume: str, tar: IO[bytes], *, labels: dict[str, str],
                host: str | None = None) -> None:
    """Create ``volume`` (with ``labels``) and unpack ``tar`` into it; the helper (of ``image``,
    which the engine has) goes whatever happens."""
    import docker.types  # noqa: PLC0415  # lazy: the SDK costs ~150 ms to import

    mount = docker.types.Mount(FILL_TARGET, volume, type="volume")
    with translate_errors(f"shipping files to volume {volume}", host):
        api.create_volume(name=volume, labels=labels)
        helper = api.create_container(image, command=["true"], labels=labels,
                                      host_config=api.create_host_config(mounts=[mount]))
    try:
        with translate_errors(f"shipping files to volume {volume}", host):
            api.put_archive(helper["Id"], FILL_TARGET, tar)
    finally:
        with contextlib.suppress(Exception):  # gone, or the engine went: its labels let cleanup find it
            api.remove_container(helper["Id"], force=True)
