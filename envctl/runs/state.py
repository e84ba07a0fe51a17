"""A run's state (an enum) and its record (a small value that serializes itself)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

from envctl.errors import ExitCode
from envctl.files import write_private

RECORD_FILE = "run.json"


class RunState(str, Enum):
    """Every run ends in exactly one of the terminal states (docs/run-states.md)."""

    STARTING = "starting"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    NO_TESTS = "no-tests"
    OOM_KILLED = "oom-killed"
    TIMED_OUT = "timed-out"
    CANCELLED = "cancelled"
    INFRA_ERROR = "infra-error"
    LOST = "lost"

    @property
    def terminal(self) -> bool:
        return self not in (RunState.STARTING, RunState.RUNNING)


PYTEST_STATES = {0: RunState.PASSED, 1: RunState.FAILED, 2: RunState.ERROR, 3: RunState.ERROR,
                 4: RunState.ERROR, 5: RunState.NO_TESTS}
ENVCTL_CODES = {
    RunState.OOM_KILLED: ExitCode.OOM_KILLED,
    RunState.TIMED_OUT: ExitCode.TIMED_OUT,
    RunState.CANCELLED: ExitCode.CANCELLED,
    RunState.INFRA_ERROR: ExitCode.INFRA_ERROR,
    RunState.LOST: ExitCode.LOST,
}


@dataclass
class Limits:
    memory: int
    cpus: float
    pids: int


@dataclass
class Counts:
    total: int | None = None
    done: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    xfailed: int = 0
    xpassed: int = 0


@dataclass
class RunRecord:
    """What envctl knows of one run; written atomically to ``run.json`` (0600)."""

    id: str
    project: str
    service: str
    command: list[str]
    limits: Limits
    state: RunState = RunState.STARTING
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    container: str | None = None
    container_exit: int | None = None
    pytest_exit: int | None = None
    timeout: float = 0.0
    message: str = ""
    running_test: str | None = None
    counts: Counts = field(default_factory=Counts)
    shard: str | None = None  # "K/N" when the run is one shard of a split suite
    isolated: bool = False  # its own throwaway project, torn down after collection
    children: list[str] = field(default_factory=list)  # shard runs of a --shards parent
    parent: str | None = None  # the --shards parent of a shard run
    injected: bool = True  # plugin and run dir mounted; False: files copied out of the container
    log_cap: int = 200 << 20
    log_bytes: int = 0
    log_cut_bytes: int = 0

    @property
    def exit_code(self) -> int:
        """The code `envctl wait` exits with: pytest's for pytest outcomes, envctl's otherwise."""
        if self.state in (RunState.PASSED, RunState.FAILED, RunState.ERROR, RunState.NO_TESTS):
            return self.pytest_exit if self.pytest_exit is not None else int(ExitCode.INFRA_ERROR)
        if self.state in ENVCTL_CODES:
            return int(ENVCTL_CODES[self.state])
        return int(ExitCode.RUN_ACTIVE)

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or 0) - self.started_at if self.finished_at else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["state"] = RunState(values.get("state", "starting"))
        values["limits"] = Limits(**values["limits"])
        values["counts"] = Counts(**{k: v for k, v in (values.get("counts") or {}).items()
                                     if k in {f.name for f in fields(Counts)}})
        return cls(**values)

    def save(self, run_dir: Path) -> None:
        write_private(run_dir / RECORD_FILE, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, run_dir: Path) -> RunRecord:
        return cls.from_dict(json.loads((run_dir / RECORD_FILE).read_text(encoding="utf-8")))
