"""How long a Docker call may take: the one place that decides.

Every call to the engine has a deadline. A call without one says why in one line: it is
:class:`Unbounded`, whose ``why`` names what ends it instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CALL = 60.0  # one request (inspect, list, signal, remove) where no setting says: docker_timeout's default
PROMPT = 30.0  # a request someone is waiting on: `stop`'s signals, removing a container that failed to start
CHECK = 5.0  # is an engine there at all (doctor): a dead DOCKER_HOST is reported within this
PRELOAD = 10.0  # agreeing on the API version ahead of the first real call (a spare thread's)
CONTEXT_LOOKUP = 10.0  # `docker context inspect`: a local file read by the CLI
IMAGE_LOOKUP = 30.0  # whether the engine has an image, on its socket or through the CLI
PROBE_START = 10.0  # beyond a probe's own seconds: creating, starting and removing its container
COMPOSE_VERSION = 20.0  # at most, asking compose its version (doctor, the first command)
KILL_AFTER = 5  # seconds timeout(1) waits after its TERM before it KILLs a compose past its deadline


@dataclass(frozen=True)
class Unbounded:
    """No socket deadline; ``why`` names what bounds the call instead."""

    why: str


# The collector's and `logs -f`'s copy of a test container's output, and the wait for its exit:
# they end when the container does, and the run's deadline is enforced inside the container.
UNTIL_EXIT = Unbounded("a stream or wait that ends with its container, which the run's deadline ends")
# The engine's events about a run's other containers while its tests run: the collector closes
# the stream when the test container exits.
RUN_EVENTS = Unbounded("a run's dependency events, closed by the collector when its tests end")
# A service's log read for a readiness pattern, in a thread the probe leaves at its own deadline.
LOG_WATCH = Unbounded("a service's log, read in a thread its probe leaves at the probe's deadline")

Timeout = float | Unbounded


def socket_seconds(timeout: Timeout | None) -> int | None:
    """The SDK's socket timeout for ``timeout``: whole seconds, at least 1; None when unbounded.

    ``None`` is the older spelling of :data:`UNTIL_EXIT`, kept for the callers not yet moved."""
    if timeout is None or isinstance(timeout, Unbounded):
        return None
    return max(1, round(timeout))


def wait_seconds(timeout: float | None) -> int | None:
    """The engine's wait endpoint takes whole seconds: ``timeout`` rounded up, at least 1."""
    return None if timeout is None else max(1, math.ceil(timeout))
