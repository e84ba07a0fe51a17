"""The ids of images, as a run's fingerprint records them (runs/fingerprint.py): asked on the
engine's local socket when the docker CLI would use it (~1 ms an image), else through the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterable

from envctl.docker import cli_config, timeouts
from envctl.docker.socket_api import AnswerTooLargeError, get, image_path
from envctl.docker.translate import ENGINE_HINT
from envctl.errors import DockerError

ANSWER_CAP = 8 << 20  # bytes of one inspect answer (a few KiB; layers and labels add up)
_ID = re.compile(r"sha256:[0-9a-f]{64}")


def image_ids(names: Iterable[str], *, timeout: float = timeouts.IMAGE_LOOKUP,
              host: str | None = None) -> dict[str, str | None]:
    """Each image's id (``sha256:...``), None for one the engine does not have; DockerError
    when the engine cannot say."""
    socket_path = cli_config.local_socket(cli_config.engine_environment(host))
    found: dict[str, str | None] = {}
    for name in dict.fromkeys(names):
        try:
            answer = None if socket_path is None else _inspect_on_socket(socket_path, name, timeout)
        except TimeoutError:  # the engine is there but silent: the CLI would wait as long again
            raise DockerError(f"inspecting image {name}: the engine did not answer within {timeout:g}s",
                              hint=ENGINE_HINT) from None
        except OSError:
            answer = None  # the CLI asks instead, and says what is wrong in its own words
        found[name] = answer[1] if answer is not None else _inspect_with_cli(name, timeout, host)
    return found


def _inspect_on_socket(socket_path: str, name: str, timeout: float,
                       clock: Callable[[], float] = time.monotonic) -> tuple[int, str | None] | None:
    """(status, id) of ``GET /images/NAME/json``; None when the answer is not one to trust."""
    try:
        status, body = get(socket_path, image_path(name), timeout=timeout, cap=ANSWER_CAP, clock=clock)
    except AnswerTooLargeError:
        return None
    if status == 404:
        return 404, None
    if status != 200:
        return None
    try:
        image_id = json.loads(body).get("Id")
    except (ValueError, AttributeError):
        return None
    return (200, image_id) if isinstance(image_id, str) and _ID.fullmatch(image_id) else None


def _inspect_with_cli(name: str, timeout: float, host: str | None = None) -> str | None:
    try:
        proc = subprocess.run([*cli_config.engine_prefix(host), "docker", "image", "inspect",
                               "--format", "{{.Id}}", name],  # docker from PATH, as compose finds it
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise DockerError(f"inspecting image {name}: docker did not answer within {timeout:.0f}s",
                          hint=ENGINE_HINT) from None
    except OSError as exc:
        raise DockerError(f"inspecting image {name}: cannot run docker: {exc}", hint=ENGINE_HINT) from None
    if proc.returncode == 0 and _ID.fullmatch(proc.stdout.strip()):
        return proc.stdout.strip()
    if "no such image" in proc.stderr.lower():
        return None
    reason = proc.stderr.strip().splitlines()[0] if proc.stderr.strip() else f"exit {proc.returncode}"
    raise DockerError(f"inspecting image {name}: {reason}")
