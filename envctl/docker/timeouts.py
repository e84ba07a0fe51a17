"""How long a Docker call may take: the one place that decides.

Every call to the engine has a deadline: every client is made with one of these (seconds).
A stream is opened within it too; only its reads, and the engine's wait for an exit, go on
without one, and each of those says why in one line: an :class:`Unbounded` whose ``why`` names
what ends it instead (see :mod:`streams`).
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
PURGE = 60.0  # a helper emptying an exchange folder (a large tree), from its start; it ends itself then
COMPOSE_VERSION = 20.0  # at most, asking compose its version (doctor, the first command)
KILL_AFTER = 5  # seconds timeout(1) waits after its TERM before it KILLs a compose past its deadline


@dataclass(frozen=True)
class Unbounded:
    """No socket deadline for a stream's reads or an exit wait, once opened within the
    client's; ``why`` names what ends them instead."""

    why: str


# The collector's and `logs -f`'s copy of a test container's output, and the wait for its exit:
# they end when the container does, and the run's deadline is enforced inside the container.
UNTIL_EXIT = Unbounded("a stream or wait that ends with its container, which the run's deadline ends")
# The engine's event stream: closed by its reader (the collector when the tests end, a readiness
# wait at its deadline).
RUN_EVENTS = Unbounded("an event stream, closed by its reader (tests ended, a wait's deadline passed)")
# A service's log read for a readiness pattern, in a thread: the probe closes it at its deadline.
LOG_WATCH = Unbounded("a service's log, read in a thread; the probe closes it at its own deadline")

def socket_seconds(timeout: float) -> int:
    """The SDK's socket timeout for ``timeout``: whole seconds, at least 1."""
    return max(1, round(timeout))


def wait_seconds(timeout: float | None) -> int | None:
    """The engine's wait endpoint takes whole seconds: ``timeout`` rounded up, at least 1."""
    return None if timeout is None else max(1, math.ceil(timeout))
