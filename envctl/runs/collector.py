"""The collector: records a test container's output, exit and state, then removes it.

Started by `envctl test` in a session of its own (``python -m envctl.runs.collector RUN_DIR``),
so it outlives the shell that started the run. Any later command whose run is unfinished and
finds no collector holding the run's lock starts a new one: the container is still there, and
attaching with ``logs=True`` replays its output from the first byte, so nothing is lost when a
collector dies. Removing the container (the ``--rm`` of ``compose run --rm``) is the last step,
after the record is safe on disk.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.errors import EngineUnavailableError, EnvctlError
from envctl.runs.logfile import CappedLog, tail_lines
from envctl.runs.outcome import decide
from envctl.runs.progress import counts_from_output, read_progress, running_test
from envctl.runs.state import Counts, RunRecord, RunState
from envctl.runs.store import (
    ATTACHED_FILE,
    CANCEL_FILE,
    COLLECTOR_LOG,
    DETACHED_FILE,
    JUNIT_FILE,
    OUTPUT_LOG,
    TIMEOUT_FILE,
    UNMOUNTED_RUN_DIR,
    collector_lock,
)

if TYPE_CHECKING:
    from envctl.docker.engine import Engine



# Collectors started by this process. Nobody waits for them on purpose (they outlive us), but a
# long-lived caller (the Python API) reaps the finished ones so they leave no zombies behind.
_SPAWNED: list[subprocess.Popen[bytes]] = []


def spawn_collector(run_dir: Path) -> None:
    """Start a collector for ``run_dir`` that survives this process, its group and its session."""
    _SPAWNED[:] = [proc for proc in _SPAWNED if proc.poll() is None]
    log = os.fdopen(os.open(run_dir / COLLECTOR_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    try:
        _SPAWNED.append(subprocess.Popen(
            [sys.executable, "-m", "envctl.runs.collector", str(run_dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,
        ))
    finally:
        log.close()


def collect(run_dir: Path) -> RunRecord | None:
    """Collect the run if no one else is; None when another collector holds the lock."""
    with collector_lock(run_dir) as mine:
        if not mine:
            return None
        record = RunRecord.load(run_dir)
        if record.state.terminal:
            return record
        if record.children:  # a --shards parent: it ends when its shards have all ended
            from envctl.runs.shards import finalize  # noqa: PLC0415
            from envctl.runs.store import RunStore  # noqa: PLC0415

            return finalize(RunStore(run_dir.parent), run_dir, record)
        record = _start_if_needed(run_dir, record)
        if not record.state.terminal and record.container is not None:
            record = _collect_container(run_dir, record, record.container)
        _tear_down_isolated(run_dir, record)
        return record


def _collect_container(run_dir: Path, record: RunRecord, container: str) -> RunRecord:
    from envctl.docker.engine import Engine  # noqa: PLC0415  # lazy: the SDK is heavy

    with Engine(timeout=60) as engine, Engine(timeout=None) as streaming:
        state = engine.container_state(container)
        if state is None:
            return _finish_lost(run_dir, record)
        if record.state is RunState.STARTING:
            record.state = RunState.RUNNING
            record.save(run_dir)
        follow = state.status in ("running", "created", "restarting", "paused")
        exit_code = _capture_output(run_dir, record, streaming, container, follow=follow)
        if not record.injected:  # nothing was mounted: the reports are inside the container
            for name in (JUNIT_FILE, TIMEOUT_FILE):
                engine.copy_file_out(container, f"{UNMOUNTED_RUN_DIR}/{name}", run_dir / name)
        final = engine.container_state(container)
        if final is None:
            return _finish_lost(run_dir, record)
        _finish(run_dir, record, exit_code, final.oom_killed, final.exit_code)
        engine.remove(container)
    return record


def _tear_down_isolated(run_dir: Path, record: RunRecord) -> None:
    """An isolated run's project lives as long as the run: remove it once the record is safe.

    Everything of it carries the project and isolated labels, so it goes through the API by
    label (no compose process, ~50 ms): a throwaway project needs no graceful stop.
    """
    if not record.isolated:
        return
    from envctl.docker import labels  # noqa: PLC0415
    from envctl.docker.engine import Engine  # noqa: PLC0415

    try:
        with Engine(timeout=60) as engine:
            engine.remove_labelled(f"{labels.PROJECT}={record.project}", f"{labels.ISOLATED}=true")
    except EnvctlError as exc:
        print(f"collector: could not remove isolated project {record.project}: {exc}", file=sys.stderr)


def _start_if_needed(run_dir: Path, record: RunRecord) -> RunRecord:
    """A detached run without a container yet: bring the environment up and start it here
    (again, if an earlier starter died before creating it). A run that cannot get one ends."""
    if record.container is None and (run_dir / DETACHED_FILE).exists() \
            and not (run_dir / CANCEL_FILE).exists():
        from envctl.runs.launch import start_from_file  # noqa: PLC0415

        record = start_from_file(run_dir, record)
    if record.container is None and not record.state.terminal:
        cancelled = (run_dir / CANCEL_FILE).exists()
        record.state = RunState.CANCELLED if cancelled else RunState.INFRA_ERROR
        record.message = record.message or "the run never got a test container"
        record.finished_at = time.time()
        record.save(run_dir)
    return record


def _capture_output(run_dir: Path, record: RunRecord, engine: Engine, container: str,
                    *, follow: bool) -> int:
    """Write the container's whole output to the capped log; the container's exit code."""
    complete = False
    exit_code: int | None = None
    if follow:
        log = CappedLog(run_dir, record.log_cap, OUTPUT_LOG)
        try:
            gate = run_dir / ATTACHED_FILE
            exit_code, complete = engine.follow_output(
                container, log.write, on_attached=lambda: gate.touch(mode=0o600))
        finally:
            record.log_cut_bytes = log.close()
            record.log_bytes = log.total
    if not complete:  # finished before we attached, or the attach hung: the engine's stored log
        log = CappedLog(run_dir, record.log_cap, OUTPUT_LOG)
        try:
            for chunk in engine.output_stream(container, follow=False):
                log.write(chunk)
        finally:
            record.log_cut_bytes = log.close()
            record.log_bytes = log.total
    if exit_code is None:
        exit_code = engine.wait_exit(container)
    return -1 if exit_code is None else exit_code


def _finish(run_dir: Path, record: RunRecord, wait_code: int, oom_killed: bool, inspect_code: int) -> None:
    exit_code = inspect_code if wait_code < 0 else wait_code
    current = running_test(run_dir)
    outcome = decide(exit_code, oom_killed=oom_killed,
                     cancel_requested=(run_dir / CANCEL_FILE).exists(),
                     timed_out=(run_dir / TIMEOUT_FILE).exists(), running_test=current)
    record.state = outcome.state
    record.message = outcome.message
    record.pytest_exit = outcome.pytest_exit
    record.container_exit = exit_code
    record.running_test = current if outcome.state in (
        RunState.OOM_KILLED, RunState.TIMED_OUT, RunState.CANCELLED) else None
    record.counts = _final_counts(run_dir)
    record.finished_at = time.time()
    record.save(run_dir)


def _final_counts(run_dir: Path) -> Counts:
    progress = read_progress(run_dir)
    if progress.source == "plugin":
        return progress.counts
    return counts_from_output(tail_lines(run_dir, 200)) or progress.counts


def _finish_lost(run_dir: Path, record: RunRecord) -> RunRecord:
    cancelled = (run_dir / CANCEL_FILE).exists()
    record.state = RunState.CANCELLED if cancelled else RunState.LOST
    record.message = ("stopped on request; the container was removed" if cancelled else
                      "the test container vanished before its result was recorded")
    record.finished_at = time.time()
    record.save(run_dir)
    return record


def main(argv: list[str]) -> int:
    from envctl import log  # noqa: PLC0415

    log.configure(log_format="json")  # collector.log is read by people and tools alike
    if len(argv) != 1:
        print("usage: python -m envctl.runs.collector RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(argv[0])
    try:
        record = collect(run_dir)
    except EngineUnavailableError as exc:
        # Leave the run as it is: a later command reconciles it once the engine is back.
        print(f"collector: engine lost: {exc}", file=sys.stderr)
        return 1
    except EnvctlError as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return 1
    if record is None:
        print("collector: another collector holds this run", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
