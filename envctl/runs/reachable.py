"""Whether an engine answers now: asked before a shard's leftovers on one of several engines are
waited on (an engine that is gone holds nothing back)."""

from __future__ import annotations

from collections.abc import Callable

from envctl.errors import EnvctlError
from envctl.runs.state import RunRecord


def _answers(host: str) -> bool:
    """Whether the engine at ``host`` (a DOCKER_HOST value) answers a ping now."""
    from envctl.docker import timeouts  # noqa: PLC0415
    from envctl.docker.engine import Engine  # noqa: PLC0415  # lazy: the SDK is heavy

    try:
        with Engine(timeout=timeouts.PROMPT, host=host) as engine:
            return engine.ping_ok()
    except EnvctlError:
        return False


# Looked up at each call: a unit test says which engines answer.
answers: Callable[[str], bool] = _answers


def on_a_lost_engine(record: RunRecord) -> bool:
    """Whether ``record`` was placed on one of several engines and that engine does not answer now."""
    return record.engine is not None and record.engine_name is not None and not answers(record.engine)
