"""What ``hook.json`` says of a run's on_finish hook (``runs/hook.py`` runs it and writes this):
read by `status`, `wait` and the reports, so it is kept apart from what runs the hook."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

from envctl.files import read_regular
from envctl.runs.store import HOOK_FILE
from envctl.units import format_duration

HOOK_LOG = "hook.log"
OUTCOME_CAP = 64 << 10  # bytes of a hook.json read


@dataclass(frozen=True, kw_only=True)
class Ended:
    """How the hook's process ended: its code (None when a signal ended it or it never started),
    the signal that did, whether its deadline passed, why it could not start, how long it took
    and how much it printed (``output_cut``: bytes past the cap, not kept)."""

    exit_code: int | None = None
    signal: str | None = None
    timed_out: bool = False
    error: str | None = None
    seconds: float = 0.0
    output_bytes: int = 0
    output_cut: int = 0


@dataclass(frozen=True)
class HookOutcome(Ended):
    """What ``hook.json`` says: when the hook started and, once it has ended (``finished``),
    how (the fields of ``Ended``)."""

    started_at: float
    finished: bool = False

    @property
    def ok(self) -> bool:
        return self.finished and self.exit_code == 0 and not self.timed_out and self.error is None

    def problem(self) -> str | None:
        """One line on a hook that did not succeed (None when it did)."""
        if self.ok:
            return None
        if not self.finished:
            return "the on_finish hook started but its outcome is unknown (its collector died)"
        if self.error is not None:
            return f"the on_finish hook failed: {self.error}"
        if self.timed_out:
            return f"the on_finish hook timed out after {format_duration(self.seconds)} (see {HOOK_LOG})"
        how = f"exit {self.exit_code}" if self.exit_code is not None else f"ended by {self.signal}"
        return f"the on_finish hook failed: {how} (see {HOOK_LOG})"

    @classmethod
    def from_dict(cls, data: object) -> HookOutcome:
        """A validated outcome; ValueError otherwise."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        types: dict[str, tuple[type, ...]] = {
            "started_at": (int, float), "finished": (bool,), "exit_code": (int, type(None)),
            "signal": (str, type(None)), "timed_out": (bool,), "error": (str, type(None)),
            "seconds": (int, float), "output_bytes": (int,), "output_cut": (int,)}
        for name, value in values.items():
            if not isinstance(value, types[name]) or (isinstance(value, bool) and bool not in types[name]):
                raise ValueError(f"{name!r} is not a {types[name][0].__name__}")
        if "started_at" not in values:
            raise ValueError("'started_at' is missing")
        return cls(**values)


def read_outcome(run_dir: Path) -> HookOutcome | None:
    """The run's hook as ``hook.json`` says (None: no hook was started). Only reads; a damaged
    file reads as a hook started with no outcome."""
    try:
        raw = read_regular(run_dir / HOOK_FILE, OUTCOME_CAP)
    except FileNotFoundError:
        return None
    except OSError:
        return HookOutcome(started_at=0.0)
    try:
        return HookOutcome.from_dict(json.loads(raw))
    except (ValueError, TypeError, RecursionError):
        return HookOutcome(started_at=0.0)
