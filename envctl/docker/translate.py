"""SDK and transport exceptions made into envctl errors that say what failed, and where."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from envctl.errors import ContainerGoneError, DockerError, EngineUnavailableError

ENGINE_HINT = "start the Docker engine (scripts/setup-docker does it on Debian), or fix DOCKER_HOST"


def describe_host(host: str | None = None) -> str:
    """Where the engine is expected, for messages (``host``: a DOCKER_HOST value; None: ours)."""
    return (os.environ.get("DOCKER_HOST") if host is None else host) or \
        "the default socket (unix:///var/run/docker.sock)"


@contextmanager
def translate_errors(what: str, host: str | None = None) -> Iterator[None]:
    """Turn SDK and transport exceptions into envctl errors that say what failed (and on which
    engine: ``host``, a DOCKER_HOST value; None: this process's)."""
    import docker.errors  # noqa: PLC0415  # lazy: the SDK costs ~150 ms to import
    import requests.exceptions  # noqa: PLC0415

    try:
        yield
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise EngineUnavailableError(
            f"{what}: the Docker engine at {describe_host(host)} does not answer ({type(exc).__name__})",
            hint=ENGINE_HINT,
        ) from exc
    except docker.errors.NotFound as exc:
        raise ContainerGoneError(f"{what}: {exc.explanation or exc}") from exc
    except docker.errors.APIError as exc:
        status = exc.status_code or 0
        raise DockerError(f"{what}: {exc.explanation or exc}", transient=status >= 500) from exc
    except docker.errors.DockerException as exc:
        text = str(exc)
        if "Connection" in text or "connect" in text or "FileNotFoundError" in text:
            raise EngineUnavailableError(
                f"{what}: the Docker engine at {describe_host(host)} does not answer",
                hint=ENGINE_HINT,
            ) from exc
        raise DockerError(f"{what}: {text}") from exc
