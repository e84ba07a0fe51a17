"""A run's state (an enum) and its record (a small value that serializes itself).

Records are read here, with a size cap and without following links, and validated where they
enter: a damaged ``run.json`` is a ``DamagedRunError`` naming the run, never a crash. They are
written only by ``envctl.runs.lifecycle``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

from envctl.errors import DamagedRunError, ExitCode
from envctl.runs.ids import RUN_ID_PATTERN, shorten_id

RECORD_FILE = "run.json"
RECORD_CAP = 4 << 20  # a record is a few KiB; anything near this is not one of ours


class RunState(str, Enum):
    """``starting -> running -> collecting -> <end state>`` (docs/run-states.md)."""

    STARTING = "starting"
    RUNNING = "running"
    COLLECTING = "collecting"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    NO_TESTS = "no-tests"
    OOM_KILLED = "oom-killed"
    TIMED_OUT = "timed-out"
    CANCELLED = "cancelled"
    ENV_BROKEN = "env-broken"
    INFRA_ERROR = "infra-error"
    LOST = "lost"

    @property
    def terminal(self) -> bool:
        return self not in (RunState.STARTING, RunState.RUNNING, RunState.COLLECTING)

    @property
    def from_pytest(self) -> bool:
        """An end state pytest's own exit code decided."""
        return self in (RunState.PASSED, RunState.FAILED, RunState.ERROR, RunState.NO_TESTS)


PYTEST_STATES = {0: RunState.PASSED, 1: RunState.FAILED, 2: RunState.ERROR, 3: RunState.ERROR,
                 4: RunState.ERROR, 5: RunState.NO_TESTS}
ENVCTL_CODES = {
    RunState.OOM_KILLED: ExitCode.OOM_KILLED,
    RunState.TIMED_OUT: ExitCode.TIMED_OUT,
    RunState.CANCELLED: ExitCode.CANCELLED,
    RunState.ENV_BROKEN: ExitCode.ENV_BROKEN,
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
    flaky: int = 0  # passed after a rerun (pytest-rerunfailures); counted in passed too
    # Not in total: pytest's "deselected" (-k, -m, --deselect, --lf). A record written before
    # envctl counted them loads with 0.
    deselected: int = 0


@dataclass
class DependencyEvent:
    """A service of the environment that died, restarted or was OOM-killed during the run."""

    service: str
    container: str
    action: str  # die, oom
    at: float
    exit_code: int | None = None
    running_test: str | None = None
    memory_peak: int | None = None  # bytes: the service's highest memory sampled (an OOM kill's)
    memory_limit: int | None = None

    def describe(self) -> str:
        from envctl.report.usage import binary_size  # noqa: PLC0415

        what = {"oom": "was OOM-killed"}.get(self.action, "died")
        code = f" (exit {self.exit_code})" if self.exit_code is not None else ""
        peak = ""
        if self.action == "oom" and self.memory_peak is not None:
            limit = f" of its {binary_size(self.memory_limit)} limit" if self.memory_limit else ""
            peak = f" (memory peaked at {binary_size(self.memory_peak)}{limit})"
        during = f" while {self.running_test} was running" if self.running_test else ""
        return f"service {self.service} {what}{code}{peak}{during}"


@dataclass
class RunRecord:
    """What envctl knows of one run; ``run.json``, written atomically by the lifecycle only."""

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
    retried: list[str] = field(default_factory=list)  # its shards ended by the infrastructure and run again
    parent: str | None = None  # the --shards parent of a shard run
    resumes: str | None = None  # the run whose unfinished tests this one runs (`test --resume`)
    injected: bool = True  # plugin and exchange dir mounted; False: files copied out of the container
    host: bool = False  # `test --host`: the tests run on this machine under a runner (runs/host_run.py)
    log_cap: int = 200 << 20
    log_bytes: int = 0
    log_cut_bytes: int = 0
    log_error: str | None = None  # the log could not be written whole (e.g. the disk was full)
    dependency_events: list[DependencyEvent] = field(default_factory=list)
    cleaned: bool = False  # its container (and an isolated run's project) removed after the end
    engine_lost_at: float | None = None  # when its collector lost the Docker engine mid-run
    # The engine it runs on (a DOCKER_HOST value; None: the default of whoever reads it) and the
    # name the user gave it (a context name or the address).
    engine: str | None = None
    engine_name: str | None = None
    # What was shipped to an engine that cannot see this machine's folders (runs/shipping.py).
    shipped_bytes: int | None = None
    shipped_seconds: float | None = None

    @property
    def exit_code(self) -> int:
        """The code `envctl wait` exits with: pytest's for pytest outcomes, envctl's otherwise."""
        if self.state.from_pytest:
            return self.pytest_exit if self.pytest_exit is not None else int(ExitCode.INFRA_ERROR)
        if self.state in ENVCTL_CODES:
            return int(ENVCTL_CODES[self.state])
        return int(ExitCode.RUN_ACTIVE)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: object) -> RunRecord:
        """A validated record; ValueError saying what is wrong otherwise."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        _check_identity(values)
        _check_numbers(values)
        values["limits"] = _limits(values.get("limits"))
        values["counts"] = _counts(values.get("counts") or {})
        events = values.get("dependency_events") or []
        if not isinstance(events, list):
            raise ValueError("'dependency_events' is not a list")
        values["dependency_events"] = [_dependency_event(e) for e in events]
        try:
            return cls(**values)
        except TypeError as exc:
            raise ValueError(str(exc)) from None

    @classmethod
    def load(cls, run_dir: Path) -> RunRecord:
        """The record in ``run_dir``; DamagedRunError when it cannot be read as one."""
        from envctl.files import read_regular  # noqa: PLC0415

        try:
            raw = read_regular(run_dir / RECORD_FILE, RECORD_CAP)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise DamagedRunError(f"run {run_dir.name}: {RECORD_FILE} cannot be read: {exc.strerror or exc}",
                                  hint=f"remove {run_dir} if it is of no use", run_id=run_dir.name,
                                  unreadable=True) from None
        try:
            return cls.from_dict(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise DamagedRunError(f"run {run_dir.name}: {RECORD_FILE} is damaged ({_short(exc)})",
                                  hint=f"remove {run_dir} if it is of no use", run_id=run_dir.name) from None


def load_shard(child_dir: Path, parent: RunRecord) -> RunRecord:
    """A --shards parent's shard as its record says; one whose record is gone (removed by hand, a
    full disk at its start) or damaged reads `lost`, ended and cleaned, saying so: the parent is
    then never better than lost, and nothing waits for it. A record that cannot be read just now
    (EIO, too many open files) is no proof: that DamagedRunError is raised, to look again later."""
    try:
        return RunRecord.load(child_dir)
    except FileNotFoundError:
        why = "its record is gone"
    except DamagedRunError as exc:
        if exc.unreadable:
            raise
        why = exc.message
    return RunRecord(id=child_dir.name, project=parent.project, service=parent.service,
                     command=list(parent.command), limits=parent.limits, state=RunState.LOST,
                     created_at=parent.created_at, message=why,
                     parent=parent.id, cleaned=True)


def _check_identity(values: dict[str, Any]) -> None:
    for name in ("id", "project", "service"):
        if not isinstance(values.get(name), str):
            raise ValueError(f"{name!r} is missing or not a string")
    if not RUN_ID_PATTERN.fullmatch(values["id"]):
        raise ValueError(f"{shorten_id(str(values['id']))} is not a run id")
    try:
        values["state"] = RunState(values.get("state", "starting"))
    except ValueError:
        raise ValueError(f"unknown state {values.get('state')!r}") from None
    command = values.get("command", [])
    if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
        raise ValueError("'command' is not a list of strings")
    _check_links(values)


def _check_links(values: dict[str, Any]) -> None:
    """The runs a record names (its shards, those run again, its parent, the run it resumes)
    are run ids; its engine is a string."""
    for name in ("children", "retried"):
        ids = values.get(name, [])
        if not isinstance(ids, list) or not all(isinstance(i, str) and RUN_ID_PATTERN.fullmatch(i)
                                                for i in ids):
            raise ValueError(f"{name!r} holds something that is not a run id")
    for name in ("engine", "engine_name"):
        if values.get(name) is not None and not isinstance(values[name], str):
            raise ValueError(f"{name!r} is not a string")
    for name in ("parent", "resumes"):
        run = values.get(name)
        if run is not None and not (isinstance(run, str) and RUN_ID_PATTERN.fullmatch(run)):
            raise ValueError(f"{name!r} is not a run id")
    for name in ("isolated", "injected", "cleaned", "host"):
        if not isinstance(values.get(name, False), bool):
            raise ValueError(f"{name!r} is not true or false")


def _check_numbers(values: dict[str, Any]) -> None:
    for name in ("created_at", "timeout"):
        if name in values:
            values[name] = _number(values[name])
    for name in ("started_at", "finished_at", "engine_lost_at", "shipped_seconds"):
        if values.get(name) is not None:
            values[name] = _number(values[name])
    if not isinstance(values.get("message", ""), str):
        raise ValueError("'message' is not a string")
    for name in ("container", "shard", "running_test", "log_error"):
        if values.get(name) is not None and not isinstance(values[name], str):
            raise ValueError(f"{name!r} is not a string")
    for name in ("log_cap", "log_bytes", "log_cut_bytes", "container_exit", "pytest_exit", "shipped_bytes"):
        if values.get(name) is not None:
            values[name] = _int(values[name])


def _limits(data: object) -> Limits:
    if not isinstance(data, dict):
        raise ValueError("'limits' is missing")
    return Limits(memory=_int(data.get("memory")), cpus=_number(data.get("cpus")),
                  pids=_int(data.get("pids")))


def _counts(data: object) -> Counts:
    if not isinstance(data, dict):
        raise ValueError("'counts' is not an object")
    total = data.get("total")
    return Counts(total=None if total is None else _int(total),
                  **{f.name: _int(data.get(f.name) or 0) for f in fields(Counts) if f.name != "total"})


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{str(value)[:40]!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError("a number too large for a record") from None
    if not math.isfinite(number):
        raise ValueError(f"{number!r} is not a finite number")
    return number


def _dependency_event(data: object) -> DependencyEvent:
    if not isinstance(data, dict):
        raise ValueError("a dependency event is not an object")
    exit_code = data.get("exit_code")
    running = data.get("running_test")
    peak, limit = data.get("memory_peak"), data.get("memory_limit")
    return DependencyEvent(service=str(data.get("service", "")), container=str(data.get("container", "")),
                           action=str(data.get("action", "")), at=_number(data.get("at", 0.0)),
                           exit_code=None if exit_code is None else _int(exit_code),
                           running_test=None if running is None else str(running),
                           memory_peak=None if peak is None else _int(peak),
                           memory_limit=None if limit is None else _int(limit))
