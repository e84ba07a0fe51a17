"""Named tenacity retry policies, defined once.

Only transient Docker failures are retried (a reset connection, a 5xx from the engine, compose's
"context deadline exceeded"); a permanent failure (a bad compose file, an unknown image, a
refused connection to a dead engine) is raised at once. Each policy is bounded both in attempts
and in total time, logs each retry through structlog, and takes an injectable ``sleep`` so tests
never really wait.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from envctl.errors import DockerError

T = TypeVar("T")

TRANSIENT_PATTERNS = re.compile(
    r"connection reset|broken pipe|context deadline exceeded|i/o timeout|"
    r"\b50[0-4]\b|server error|internal server error|service unavailable|"
    r"temporarily unavailable|TLS handshake timeout|unexpected EOF",
    re.IGNORECASE,
)


def is_transient(exc: BaseException) -> bool:
    """Whether retrying ``exc`` may succeed."""
    if isinstance(exc, DockerError):
        return exc.transient or bool(TRANSIENT_PATTERNS.search(str(exc)))
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """A bounded retry policy: attempts, total time, and exponential backoff between tries."""

    name: str
    attempts: int
    max_seconds: float
    first_wait: float
    max_wait: float

    def call(self, fn: Callable[[], T], *, sleep: Callable[[float], None] = time.sleep) -> T:
        """Call ``fn``, retrying transient failures under this policy; re-raise the last one."""
        from tenacity import (  # noqa: PLC0415  # lazy: only paths that call Docker need it
            Retrying,
            retry_if_exception,
            stop_after_attempt,
            stop_after_delay,
            wait_exponential,
        )

        from envctl.log import get_logger  # noqa: PLC0415

        logger = get_logger("envctl.retry")

        def log_retry(state: Any) -> None:
            exc = state.outcome.exception() if state.outcome else None
            logger.warning("retrying a transient Docker failure", policy=self.name,
                           attempt=state.attempt_number, error=str(exc),
                           wait_s=round(state.next_action.sleep, 2) if state.next_action else None)

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts) | stop_after_delay(self.max_seconds),
            wait=wait_exponential(multiplier=self.first_wait, max=self.max_wait),
            retry=retry_if_exception(is_transient),
            before_sleep=log_retry,
            sleep=sleep,
            reraise=True,
        )
        return retrying(fn)


# Short Docker API and compose CLI calls (inspect, config, down, build start).
DOCKER_CALL = RetryPolicy("docker-call", attempts=4, max_seconds=30.0, first_wait=0.5, max_wait=4.0)
# Bringing a project up: fewer, longer tries; the health deadline bounds it as well.
COMPOSE_UP = RetryPolicy("compose-up", attempts=3, max_seconds=60.0, first_wait=1.0, max_wait=5.0)
