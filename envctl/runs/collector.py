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
import threading
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
    take_collector_lock,
)

if TYPE_CHECKING:
    from envctl.docker.engine import Engine



# Collectors started by this process. Nobody waits for them on purpose (they outlive us), but a
# long-lived caller (the Python API) reaps the finished ones so they leave no zombies behind.
_SPAWNED: list[subprocess.Popen[bytes]] = []


def spawn_collector(*run_dirs: Path, log_to: Path | None = None) -> None:
    """Start one collector for ``run_dirs`` that survives this process, its group and its session.

    It is handed each run's lock, taken here, so no other collector can start for them in the
    meantime; runs already held by a live collector are left to it. One process collects many
    runs (the shards of a --shards run) in threads, so N shards cost one interpreter, not N.
    ``log_to``: the run directory whose collector.log gets its output (default: the first).
    """
    _SPAWNED[:] = [proc for proc in _SPAWNED if proc.poll() is None]
    held = [(run_dir, fd) for run_dir in run_dirs if (fd := take_collector_lock(run_dir)) is not None]
    if not held:
        return
    argv = [sys.executable, "-m", "envctl.runs.collector"]
    for run_dir, fd in held:
        argv += ["--fd", str(fd), str(run_dir)]
    log_dir = log_to or held[0][0]
    log = os.fdopen(os.open(log_dir / COLLECTOR_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    try:
        _SPAWNED.append(subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, pass_fds=[fd for _d, fd in held],
        ))
    finally:
        log.close()
        for _run_dir, fd in held:
            os.close(fd)  # the child's copies keep the locks


def collect(run_dir: Path, *, held_fd: int | None = None) -> RunRecord | None:
    """Collect the run if no one else is; None when another collector holds the lock."""
    with collector_lock(run_dir, held_fd=held_fd) as mine:
        if not mine:
            return None
        record = RunRecord.load(run_dir)
        if record.state.terminal:
            return record
        if record.children:  # a --shards parent: it ends when its shards have all ended
            from envctl.runs.shards import finalize  # noqa: PLC0415

            return finalize(run_dir, record)
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


def _collect_reporting(run_dir: Path, held_fd: int | None) -> int:
    """Collect one run; what went wrong goes to the collector log, prefixed by the run."""
    try:
        record = collect(run_dir, held_fd=held_fd)
    except EngineUnavailableError as exc:
        # Leave the run as it is: a later command reconciles it once the engine is back.
        print(f"collector {run_dir.name}: engine lost: {exc}", file=sys.stderr, flush=True)
        return 1
    except EnvctlError as exc:
        print(f"collector {run_dir.name}: {exc}", file=sys.stderr, flush=True)
        return 1
    if record is None:
        print(f"collector {run_dir.name}: another collector holds this run", file=sys.stderr, flush=True)
    return 0


def _import_sdk() -> None:
    from envctl.docker.engine import preload_sdk  # noqa: PLC0415

    preload_sdk()


def parse_args(argv: list[str]) -> list[tuple[Path, int | None]]:
    """``[--fd N] RUN_DIR ...``: each run, with the lock fd its spawner handed over, if any."""
    runs: list[tuple[Path, int | None]] = []
    fd: int | None = None
    args = iter(argv)
    for arg in args:
        if arg == "--fd":
            fd = int(next(args))
        else:
            runs.append((Path(arg), fd))
            fd = None
    return runs


def main(argv: list[str]) -> int:
    from envctl import log  # noqa: PLC0415

    log.configure(log_format="json")  # collector.log is read by people and tools alike
    try:
        runs = parse_args(argv)
    except (ValueError, StopIteration):
        runs = []
    if not runs:
        print("usage: python -m envctl.runs.collector [--fd N] RUN_DIR ...", file=sys.stderr)
        return 2
    # The docker SDK (~150 ms to import) is first needed to attach, after `compose run`:
    # import it alongside, so starting the container does not wait for it.
    threading.Thread(target=_import_sdk, daemon=True, name="import-sdk").start()
    if len(runs) == 1:
        return _collect_reporting(*runs[0])
    codes: list[int] = []
    threads = [threading.Thread(target=lambda r=run_dir, f=fd: codes.append(_collect_reporting(r, f)),
                                name=f"collect-{run_dir.name}") for run_dir, fd in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max(codes, default=1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
