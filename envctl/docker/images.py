"""Images: whether the engine has them, asked the cheapest way that gives the CLI's answer."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

from envctl.docker import cli_config, timeouts
from envctl.docker.socket_api import get_status, image_path
from envctl.docker.translate import ENGINE_HINT, translate_errors
from envctl.errors import ContainerGoneError, DockerError, EngineUnavailableError

if TYPE_CHECKING:
    from docker import APIClient


def image_exists(api: APIClient, name: str) -> bool:
    """Whether the engine has image ``name``, through the SDK; any error says no."""
    try:
        with translate_errors("inspecting an image"):
            api.inspect_image(name)  # type: ignore[no-untyped-call]  # untyped in types-docker
    except ContainerGoneError:
        return False
    except DockerError:
        return False
    return True


def missing_images(names: list[str], *, timeout: float = timeouts.IMAGE_LOOKUP,
                   host: str | None = None) -> list[str]:
    """The images of ``names`` the engine does not have: asked on the engine's local socket when
    the docker CLI would use it, else through the CLI.

    `envctl test --detach`'s background process calls this before `compose run`: a ~2 ms socket
    call (~20 ms through the CLI) per image keeps the SDK's ~150 ms import off the path to the
    test container's start.
    """
    missing = []
    socket_path = cli_config.local_socket(cli_config.engine_environment(host))
    for name in names:
        present = None if socket_path is None else _image_on_socket(socket_path, name, timeout)
        if present is not None:
            if not present:
                missing.append(name)
            continue
        try:
            proc = subprocess.run([*cli_config.engine_prefix(host), "docker", "image", "inspect",
                                   "--format", "{{.Id}}", name],  # docker from PATH, as compose finds it
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise DockerError(f"checking for image {name}: docker did not answer within {timeout:.0f}s",
                              hint=ENGINE_HINT) from None
        except OSError as exc:
            raise EngineUnavailableError(f"checking for image {name}: cannot run docker: {exc}",
                                         hint=ENGINE_HINT) from None
        if proc.returncode == 0:
            continue
        if "no such image" in proc.stderr.lower():
            missing.append(name)
            continue
        reason = proc.stderr.strip().splitlines()[0] if proc.stderr.strip() else f"exit {proc.returncode}"
        if "cannot connect" in reason.lower() or "is the docker daemon running" in reason.lower():
            raise EngineUnavailableError(f"checking for image {name}: {reason}", hint=ENGINE_HINT)
        raise DockerError(f"checking for image {name}: {reason}")
    return missing


def _image_on_socket(socket_path: str, name: str, timeout: float) -> bool | None:
    """Whether the engine has image ``name``; None when the socket cannot say (the CLI then
    asks, and reports what is wrong in its own words)."""
    try:
        status = get_status(socket_path, image_path(name), timeout=timeout)
    except TimeoutError:
        # The engine is there but silent: the CLI would wait as long again. Say so now.
        raise DockerError(f"checking for image {name}: the engine did not answer within {timeout:.0f}s",
                          hint=ENGINE_HINT) from None
    except OSError:
        return None
    if status == 200:
        return True
    if status == 404:
        return False
    return None
