"""The progress plugin's files (stdlib only; loaded by envctl_progress): ``events.jsonl``, one
JSON line per event, buffered and flushed at most _FLUSH_EVERY after (failures, starts and the
end at once), and the ``progress.json`` snapshot, rewritten at most every _SNAPSHOT_EVERY. A
write error sends the plugin quiet, never breaks the run."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from typing import Any

_SNAPSHOT_EVERY = 0.25  # seconds between progress.json rewrites
# Events are buffered and flushed at most this long after they are written (a write per line
# was a third of the plugin's cost on 10k fast tests); failures and the end are flushed at once.
_FLUSH_EVERY = 0.1
# How json.dumps writes a string (ensure_ascii, in C): the lines written for every test are put
# together by hand with it, the same bytes json.dumps makes at a fraction of its cost.
_quoted = json.encoder.encode_basestring_ascii


class Progress:
    """events.jsonl and progress.json of the session envctl records (see envctl_progress)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.events = None
        self.broken = False
        self.started = time.time()
        self.last_snapshot = 0.0
        self.dirty = False
        self.lock = threading.Lock()
        self.events_lock = threading.Lock()
        self.unflushed = False
        self.rerun: set[str] = set()  # tests a plugin ran again (pytest-rerunfailures' `rerun`)
        self.collectors = 0  # collectors reported skipped or failed before the total was known
        # pytest's own categories, as its summary line counts them. `total` is the tests collected
        # and the collectors reported on their own (a module skipped at import is one skipped, as
        # pytest counts it): each is counted once in `done`, so a finished run's done is its total.
        self.state: dict[str, Any] = {"total": None, "done": 0, "passed": 0, "failed": 0, "skipped": 0,
                      "errors": 0, "xfailed": 0, "xpassed": 0, "flaky": 0, "deselected": 0,
                      "current": None, "running": [], "flaky_tests": [],
                      "started": self.started, "updated": self.started, "exitstatus": None}
        try:
            self.events = open(os.path.join(directory, "events.jsonl"), "a", encoding="utf-8")
            os.fchmod(self.events.fileno(), 0o644)  # the host user reads it, whatever uid we are
        except OSError:
            self.broken = True
        threading.Thread(target=self._flush, daemon=True, name="envctl-progress").start()

    def emit(self, kind: str, *, flush: bool = False, **data: object) -> None:
        if self.broken or self.events is None:
            return
        self.write(json.dumps({"t": round(time.time(), 3), "kind": kind, **data}) + "\n", flush)

    def write(self, line: str, flush: bool) -> None:
        """One event's line (see emit); the two every test writes come ready-made (emit_start,
        emit_result)."""
        if self.broken or self.events is None:
            return
        with self.events_lock:
            try:
                self.events.write(line)
                self.unflushed = not flush
                if flush:
                    self.events.flush()
            except (OSError, ValueError):
                self.broken = True

    def emit_start(self, nodeid: str) -> None:
        """emit("start", flush=True, nodeid=nodeid): the same line, without json.dumps."""
        now = round(time.time(), 3)
        if type(now) is not float or not math.isfinite(now):  # a test replaced the clock
            self.emit("start", flush=True, nodeid=nodeid)
            return
        self.write(f'{{"t": {now!r}, "kind": "start", "nodeid": {_quoted(nodeid)}}}\n', True)

    def emit_result(self, nodeid: str, outcome: str, when: str, duration: float, worker: str | None) -> None:
        """emit("result", nodeid=..., outcome=..., when=..., duration=...[, worker=...]) for a
        result with nothing more to say (no message, not flaky): the same line, without json.dumps."""
        now = round(time.time(), 3)
        if type(now) is not float or not math.isfinite(now):  # a test replaced the clock
            fields: dict[str, Any] = {"worker": worker} if worker else {}
            self.emit("result", nodeid=nodeid, outcome=outcome, when=when, duration=duration, **fields)
            return
        tail = f', "worker": {_quoted(worker)}}}\n' if worker else "}\n"
        self.write(f'{{"t": {now!r}, "kind": "result", "nodeid": {_quoted(nodeid)}, '
                   f'"outcome": {_quoted(outcome)}, "when": {_quoted(when)}, "duration": {duration!r}{tail}',
                   False)

    def flush_events(self) -> None:
        with self.events_lock:
            if self.unflushed and self.events is not None and not self.broken:
                try:
                    self.events.flush()
                    self.unflushed = False
                except (OSError, ValueError):
                    self.broken = True

    def snapshot(self, force: bool = False) -> None:
        with self.lock:
            now = time.time()
            if self.broken or (not force and now - self.last_snapshot < _SNAPSHOT_EVERY):
                self.dirty = not self.broken  # the flusher writes it within _SNAPSHOT_EVERY
                return
            self.last_snapshot = now
            self.dirty = False
            self.state["updated"] = now
            path = os.path.join(self.directory, "progress.json")
            tmp = path + ".tmp"
            try:
                with open(tmp, "w", encoding="utf-8") as handle:
                    json.dump(self.state, handle)
                    os.fchmod(handle.fileno(), 0o644)
                os.replace(tmp, path)
            except (OSError, ValueError, RuntimeError):
                self.broken = True

    def _flush(self) -> None:
        """A change held back by the rate limit is written a moment later, so a long test
        shows as running now rather than when the next one starts."""
        ticks = 0
        while not self.broken:
            time.sleep(_FLUSH_EVERY)
            self.flush_events()
            ticks += 1
            if self.dirty and ticks * _FLUSH_EVERY >= _SNAPSHOT_EVERY:
                ticks = 0
                self.snapshot(force=True)
