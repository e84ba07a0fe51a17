"""The docker SDK imported, and the API version agreed, ahead of the first real call."""

from __future__ import annotations

import contextlib
import sys
import threading

from envctl.docker import timeouts
from envctl.docker.connection import connect, import_sdk
from envctl.errors import EnvctlError

_preloading = threading.Lock()
_preload_started = [False]


def preload_sdk() -> None:
    """Import the docker SDK and agree on the API version now (in a spare thread), so the first
    Engine() does not wait for either."""
    import_sdk()
    with contextlib.suppress(EnvctlError):  # the caller's own Engine() will say what is wrong
        connect(timeouts.PRELOAD).close()


def preload_sdk_in_background() -> None:
    """Import the SDK (~150 ms) in a thread, once per process. Called as `compose run` starts:
    compose takes longer than the import, and an import begun earlier would compete (for the
    GIL) with the work that has to come first."""
    with _preloading:
        if _preload_started[0] or "docker" in sys.modules:
            return
        _preload_started[0] = True
    threading.Thread(target=preload_sdk, daemon=True, name="import-sdk").start()
