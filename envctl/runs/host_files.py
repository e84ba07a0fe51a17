"""What a `test --host` run keeps in its run directory beside the record, each file written
atomically by one process and read back as a validated value:

- ``host.json`` (the collector, before it starts the runner): the command, the variables added to
  the environment, the folder, the timeout, the log cap and the cgroup the tests go into, or why
  none could be made (the limits are then not applied);
- ``runner.json`` (the runner): the runner itself and, once started, the tests' process (the
  leader of their process group);
- ``host-exit.json`` (the runner, once the tests have ended): their exit code and the log's
  figures. With the runner gone and no such file, the run is `lost`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envctl.files import read_regular, write_private
from envctl.runs.host_process import ProcessId, boot_id

if TYPE_CHECKING:
    from envctl.runs.host_limits import HostCgroup

PLAN_FILE = "host.json"
RUNNER_FILE = "runner.json"
EXIT_FILE = "host-exit.json"
FILE_CAP = 1 << 20  # bytes: each of them is a few hundred


def _load(run_dir: Path, name: str) -> dict[str, Any] | None:
    """The JSON object in ``name``; None when it is not there. ValueError when it is damaged."""
    try:
        raw = read_regular(run_dir / name, FILE_CAP)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"{name} cannot be read: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{name} is damaged: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{name} is not a JSON object")
    return data


def _strings(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} is not a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class HostPlan:
    """What the runner runs, and how."""

    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout: float = 0.0
    log_cap: int = 200 << 20
    cgroup: HostCgroup | None = None
    limits_note: str | None = None  # why the limits are not applied (no cgroup could be made)

    def store(self, run_dir: Path) -> None:
        write_private(run_dir / PLAN_FILE, json.dumps({
            "argv": list(self.argv), "env": self.env, "cwd": self.cwd, "timeout": self.timeout,
            "log_cap": self.log_cap, "cgroup": self.cgroup.to_json() if self.cgroup else None,
            "limits_note": self.limits_note}))

    @classmethod
    def load(cls, run_dir: Path) -> HostPlan | None:
        data = _load(run_dir, PLAN_FILE)
        if data is None:
            return None
        argv = _strings(data.get("argv"), "argv")
        if not argv:
            raise ValueError("argv is empty")
        env = data.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in env.items()):
            raise ValueError("env is not a map of strings")
        cwd, timeout, cap, note = (data.get("cwd"), data.get("timeout", 0.0), data.get("log_cap"),
                                   data.get("limits_note"))
        if cwd is not None and not (isinstance(cwd, str) and Path(cwd).is_absolute()):
            raise ValueError("cwd is not an absolute path")
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 <= timeout < 1e9:
            raise ValueError("timeout is not a number of seconds")
        if not isinstance(cap, int) or isinstance(cap, bool) or cap <= 0:
            raise ValueError("log_cap is not a positive number")
        if note is not None and not isinstance(note, str):
            raise ValueError("limits_note is not text")
        raw_cgroup = data.get("cgroup")
        cgroup = None
        if raw_cgroup is not None:  # `status` reads the plan for its note: the cgroup module only if needed
            from envctl.runs.host_limits import HostCgroup  # noqa: PLC0415

            cgroup = HostCgroup.from_json(raw_cgroup)
        return cls(argv, dict(env), cwd, float(timeout), cap, cgroup, note)


@dataclass(frozen=True)
class RunnerFile:
    """The runner, and the tests' process once it is started."""

    runner: ProcessId
    started_at: float
    tests: ProcessId | None = None
    boot: str | None = None  # the boot they ran in (host_process.boot_id): another boot's are gone
    # The runner's session, which the tests' group is in. 0 when its leader lives outside this pid
    # namespace (getsid and /proc/PID/stat both say 0 there, so the two still compare equal).
    sid: int | None = None

    @property
    def session(self) -> int:
        """The session the tests run in: the runner's (its own, as the collector starts it)."""
        return self.sid if self.sid is not None else self.runner.pid

    def this_boot(self) -> bool:
        """Whether these processes could still be alive: they ran since this machine booted."""
        return self.boot is None or self.boot == boot_id()

    def store(self, run_dir: Path) -> None:
        write_private(run_dir / RUNNER_FILE, json.dumps({
            "runner": self.runner.to_json(), "started_at": self.started_at,
            "tests": self.tests.to_json() if self.tests else None, "boot": self.boot, "sid": self.sid}))

    @classmethod
    def load(cls, run_dir: Path) -> RunnerFile | None:
        data = _load(run_dir, RUNNER_FILE)
        if data is None:
            return None
        started = data.get("started_at")
        if not isinstance(started, (int, float)) or isinstance(started, bool):
            raise ValueError("started_at is not a time")
        tests, boot, sid = data.get("tests"), data.get("boot"), data.get("sid")
        if boot is not None and not isinstance(boot, str):
            raise ValueError("boot is not text")
        if sid is not None and not (isinstance(sid, int) and not isinstance(sid, bool) and sid >= 0):
            raise ValueError("sid is not a session id")
        return cls(ProcessId.from_json(data.get("runner")), float(started),
                   ProcessId.from_json(tests) if tests is not None else None, boot, sid)


@dataclass(frozen=True)
class HostExit:
    """How the tests ended, as their runner saw it."""

    exit_code: int
    ended_at: float
    log_bytes: int = 0
    log_cut_bytes: int = 0
    log_error: str | None = None
    timed_out: bool = False
    final: bool = True  # False: written as the tests ended, before the log was finished
    oom_kills: int | None = None  # the cgroup's count as the tests ended (None: no cgroup)
    memory_peak: int | None = None
    memory_limit: int | None = None

    def store(self, run_dir: Path) -> None:
        write_private(run_dir / EXIT_FILE, json.dumps({
            "exit_code": self.exit_code, "ended_at": self.ended_at, "log_bytes": self.log_bytes,
            "log_cut_bytes": self.log_cut_bytes, "log_error": self.log_error,
            "timed_out": self.timed_out, "final": self.final, "oom_kills": self.oom_kills,
            "memory_peak": self.memory_peak, "memory_limit": self.memory_limit}))

    @classmethod
    def load(cls, run_dir: Path) -> HostExit | None:
        data = _load(run_dir, EXIT_FILE)
        if data is None:
            return None
        code, ended = data.get("exit_code"), data.get("ended_at", time.time())
        numbers = [data.get("log_bytes", 0), data.get("log_cut_bytes", 0)]
        if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= 255:
            raise ValueError("exit_code is not an exit code")
        if not isinstance(ended, (int, float)) or isinstance(ended, bool):
            raise ValueError("ended_at is not a time")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
            raise ValueError("the log's figures are not byte counts")
        error, timed_out, final = data.get("log_error"), data.get("timed_out", False), data.get("final", True)
        if error is not None and not isinstance(error, str):
            raise ValueError("log_error is not text")
        if not isinstance(timed_out, bool) or not isinstance(final, bool):
            raise ValueError("timed_out or final is not true or false")
        memory = [data.get(k) for k in ("oom_kills", "memory_peak", "memory_limit")]
        if not all(m is None or (isinstance(m, int) and not isinstance(m, bool) and m >= 0) for m in memory):
            raise ValueError("the memory figures are not counts")
        return cls(code, float(ended), numbers[0], numbers[1], error, timed_out, final, *memory)
