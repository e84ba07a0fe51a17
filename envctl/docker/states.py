"""Containers by their labels, looked at the cheapest way that gives the SDK's answer: on the
engine's local socket, one list and one inspect a container (~1 ms a request), with no SDK
loaded (~150 ms, and a process that loaded it can no longer fork its collector). Through the
SDK when the CLI would not use a local socket or the socket does not answer as the engine does.

`envctl test` looks at its environment this way on the way to `compose run`: on a warm
environment that look is all the readiness there is to wait for."""

from __future__ import annotations

import json
import re
import urllib.parse

from envctl.docker import cli_config
from envctl.docker.models import ContainerState
from envctl.docker.socket_api import AnswerTooLargeError, get
from envctl.docker.translate import ENGINE_HINT
from envctl.errors import EngineUnavailableError

LIST_CAP = 16 << 20  # bytes of the list: ~1 KiB a container
INSPECT_CAP = 8 << 20  # bytes of one inspect (a few KiB; health logs and labels add up)
_ID = re.compile(r"[0-9a-f]{64}")


def labelled(labels: dict[str, str], *, timeout: float, host: str | None = None) -> list[ContainerState]:
    """Every container (running or not) carrying ``labels``, inspected; EngineUnavailableError
    when the engine does not answer (each request under ``timeout``), as the SDK says it.
    ``host``: the engine (a DOCKER_HOST value; None: this process's)."""
    socket_path = cli_config.local_socket(cli_config.engine_environment(host))
    if socket_path is not None:
        try:
            found = _on_socket(socket_path, labels, timeout)
        except TimeoutError:  # silent: the SDK would wait as long again, then say the same
            raise EngineUnavailableError(f"listing containers: the Docker engine did not answer within "
                                         f"{timeout:g}s", hint=ENGINE_HINT) from None
        except OSError:
            found = None  # the SDK asks instead, and says what is wrong in its own words
        if found is not None:
            return found
    from envctl.docker.engine import Engine  # noqa: PLC0415  # the SDK, only when needed

    with Engine(timeout=timeout, host=host) as engine:
        return engine.containers(labels)


def _on_socket(socket_path: str, labels: dict[str, str], timeout: float) -> list[ContainerState] | None:
    """The containers as the socket lists and inspects them; None when an answer is not one to
    trust (not the engine's shape, too large, an unexpected status)."""
    filters = urllib.parse.quote(json.dumps({"label": [f"{k}={v}" for k, v in labels.items()]}))
    try:
        status, body = get(socket_path, f"/containers/json?all=1&filters={filters}", timeout=timeout,
                           cap=LIST_CAP)
        summaries = json.loads(body) if status == 200 else None
        if not isinstance(summaries, list):
            return None
        states = []
        for summary in summaries:
            container_id = summary.get("Id") if isinstance(summary, dict) else None
            if not isinstance(container_id, str) or not _ID.fullmatch(container_id):
                return None
            status, body = get(socket_path, f"/containers/{container_id}/json", timeout=timeout,
                               cap=INSPECT_CAP)
            if status == 404:
                continue  # removed since the list: the SDK's look skips it too
            data = json.loads(body) if status == 200 else None
            if not isinstance(data, dict):
                return None
            states.append(ContainerState.from_inspect(data))
    except AnswerTooLargeError:
        return None
    except (ValueError, TypeError):  # not JSON, or a field not of the engine's type
        return None
    return states
