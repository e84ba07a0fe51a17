"""A run's stop request as its collector sees it: the cancel file, looked at in a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from envctl.runs.store import CANCEL_FILE

CANCEL_POLL = 0.1  # seconds between looks for a stop request (a stat of one file)
CANCEL_SLACK = 1.0  # a stop asked this long after the exit still counts (clock granularity)


class CancelWatch:
    """Watches for the run's stop request; ``on_cancel`` runs once when it appears."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / CANCEL_FILE
        self.seen = threading.Event()
        self.done = threading.Event()
        self.on_cancel: Callable[[], None] | None = None
        self.thread = threading.Thread(target=self._watch, daemon=True, name="envctl-cancel")

    def __call__(self) -> bool:
        return self.seen.is_set() or self.path.exists()

    def requested_before(self, moment: float) -> bool:
        """Whether the stop was asked for before ``moment`` (the container's exit): a stop that
        comes while a finished run is being recorded does not turn its result into `cancelled`."""
        try:
            asked = self.path.stat().st_mtime
        except OSError:
            return False
        return asked <= moment + CANCEL_SLACK

    def __enter__(self) -> CancelWatch:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.done.set()

    def _watch(self) -> None:
        while not self.done.wait(CANCEL_POLL):
            if self.path.exists():
                self.seen.set()
                if self.on_cancel is not None:
                    self.on_cancel()
                return
