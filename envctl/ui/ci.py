"""`envctl wait --ci`: wait for a run the way a CI job needs it.

Heartbeats keep a silent step alive; the log is folded into a group with workflow commands
switched off inside it; on GitHub Actions failed tests become annotations and the results a job
summary. SIGINT / SIGTERM (a cancelled job) stop the run's container, write a partial summary
and exit 130 / 143 within a few seconds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from envctl import signals
from envctl.errors import EnvctlError, EnvironmentFailedError
from envctl.report import github
from envctl.report.paths import PathMap
from envctl.report.summary import code_span, markdown
from envctl.report.usage import binary_size
from envctl.runs import control
from envctl.runs.exchange import JUNIT_FILE, session_root
from envctl.runs.progress import Progress, read_progress
from envctl.runs.resource_files import read_resources
from envctl.runs.results import run_failures, run_flaky
from envctl.runs.state import RunRecord, load_shard
from envctl.runs.store import OUTPUT_LOG
from envctl.text import clean_text
from envctl.ui.report import summary_data
from envctl.units import format_duration

CI_STOP = (("SIGINT", 2.0), ("SIGTERM", 1.5), ("SIGKILL", 1.0))  # all within the 7 s budget
LOG_ECHO_CAP = 16 << 20  # the log echoed into the CI log: its last 16 MiB at most


def _progress(run_dir: Path, record: RunRecord) -> Progress:
    if record.children:  # a --shards parent: its shards' progress as one
        from envctl.runs.shards import combined_progress  # noqa: PLC0415

        return combined_progress(record, run_dir.parent)[0]
    return read_progress(run_dir)


def heartbeat_line(run_dir: Path, record: RunRecord) -> str:
    progress = _progress(run_dir, record)
    counts = progress.counts
    elapsed = format_duration(time.time() - (record.started_at or record.created_at))
    parts = [f"envctl: {time.strftime('%H:%M:%S')} run {record.id} {record.state.value} {elapsed}"]
    total = counts.total if counts.total is not None else "?"
    parts.append(f"{counts.done}/{total} done, {counts.failed + counts.errors} failed")
    if progress.rate:
        parts.append(f"{progress.rate:.1f} tests/s")
    if progress.eta is not None:
        parts.append(f"ETA {format_duration(progress.eta)}")
    if progress.current:
        parts.append(f"now {progress.current}")
    used = read_resources(run_dir)
    if used is not None and used.test is not None and used.test.memory is not None:
        peak = f" (peak {binary_size(used.test.peak)})" if used.test.peak is not None else ""
        parts.append(f"memory {binary_size(used.test.memory)}{peak}")
    return ", ".join(parts)


def memory_warnings(run_dir: Path, record: RunRecord) -> list[str]:
    """The run's 80% memory warnings; a --shards parent's are its shards', each named."""
    if not record.children:
        found = read_resources(run_dir)
        return found.warnings() if found is not None else []
    warnings = []
    for child in record.children:
        found = read_resources(run_dir.parent / child)
        warnings += [f"shard {child}: {text}" for text in (found.warnings() if found is not None else [])]
    return warnings


def _log_chunks(path: Path, cap: int = LOG_ECHO_CAP) -> Iterator[bytes]:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size > cap:
                yield f"[envctl: the first {size - cap} bytes are in {path}]\n".encode()
            handle.seek(max(0, size - cap))
            while chunk := handle.read(1 << 20):
                yield chunk
    except OSError:
        return


def ci_wait(run_dir: Path, *, heartbeat: float, github_actions: bool, summary_path: Path | None,
            out: BinaryIO) -> int:
    """Wait with heartbeats, then report for CI; the exit code `envctl wait` returns."""
    try:  # the error boundary turns SIGINT, SIGTERM and SIGHUP into interrupts
        record = _wait_with_heartbeats(run_dir, heartbeat, out)
    except signals.INTERRUPTS as exc:
        with signals.shielded():  # a second signal must not cut the cleanup short
            out.write(f"envctl: job cancelled ({signals.name(exc)}): stopping the test run\n".encode())
            out.flush()
            try:
                record = control.stop(run_dir, escalation=CI_STOP, record_wait=2.0)
            except EnvctlError:
                record = RunRecord.load(run_dir)
            if not record.state.terminal:
                out.write(f"envctl: the run is still {record.state.value}; its stop is under way\n".encode())
            _report(run_dir, record, github_actions, summary_path, out, partial=True)
        return signals.exit_code(exc)
    _report(run_dir, record, github_actions, summary_path, out, partial=False)
    return record.exit_code


def _wait_with_heartbeats(run_dir: Path, heartbeat: float, out: BinaryIO) -> RunRecord:
    """Wait for the run's end, in every phase, writing a heartbeat line at least every
    ``heartbeat`` seconds; a signal ends the wait at once (its handler raises)."""
    last_beat = [0.0]

    def beat(record: RunRecord) -> None:
        now = time.monotonic()
        if last_beat[0] == 0.0 or now - last_beat[0] >= heartbeat:
            out.write((heartbeat_line(run_dir, record) + "\n").encode())
            out.flush()
            last_beat[0] = now

    return control.wait_for(run_dir, cleaned=True, on_tick=beat)


def _report(run_dir: Path, record: RunRecord, github_actions: bool, summary_path: Path | None,
            out: BinaryIO, *, partial: bool) -> None:
    if record.children:  # a --shards parent: a folded group for each shard's log
        for child_id in record.children:
            child = load_shard(run_dir.parent / child_id, record)  # one gone reads lost: its log is empty
            github.fold(f"envctl run {record.id}: shard {child.shard} output ({child_id})",
                        _log_chunks(run_dir.parent / child_id / OUTPUT_LOG), out)
    else:
        github.fold(f"envctl run {record.id}: output", _log_chunks(run_dir / OUTPUT_LOG), out)
    failures, total = run_failures(run_dir)
    flaky, flaky_total = run_flaky(run_dir, record.children)  # read once: annotations and summary
    paths = path_map(run_dir, record)
    if github_actions:
        repo_path = paths.repo_path if paths else str
        for line in [*github.annotation_lines(failures, total, repo_path),
                     *github.flaky_lines(flaky, flaky_total, repo_path),
                     *github.memory_lines(memory_warnings(run_dir, record))]:
            out.write((line + "\n").encode())
    if summary_path is not None:
        data = summary_data(run_dir, record, flaky=flaky)
        shown = _Shown(run_dir, paths.repository if paths else Path.cwd())
        data["log"] = shown(run_dir / OUTPUT_LOG)
        data["junit"] = shown(run_dir / JUNIT_FILE) if data["junit"] else None
        text = markdown(data, max_failures=len(failures))
        if partial:
            text = ("> envctl: the job was cancelled; this summary is partial.\n\n" + text)
        github.write_summary(summary_path, text + f"\n{shown.where()}\n")
    from envctl.ui.render import final_summary  # noqa: PLC0415

    out.write((final_summary(run_dir, record) + "\n").encode())
    out.flush()


def path_map(run_dir: Path, record: RunRecord) -> PathMap | None:
    """How the run's test container saw the repository (from its start.json and the compose
    configuration); None when that cannot be known (a run directory from an artifact)."""
    from envctl.runs.launch import environment_from_file  # noqa: PLC0415

    start_dir = run_dir.parent / record.children[0] if record.children else run_dir
    try:
        env, _request = environment_from_file(start_dir)
        spec = env.config().services[env.settings.test_service]
    except (EnvctlError, OSError, ValueError, KeyError, TypeError):
        return None
    repository = Path(os.environ.get("GITHUB_WORKSPACE") or Path.cwd())
    # Node ids are relative to pytest's rootdir, which the plugin reports; the service's
    # working_dir is the fallback (compose knows nothing of a Dockerfile's WORKDIR).
    return PathMap(session_root(start_dir) or spec.working_dir, spec.binds, repository)


class _Shown:
    """Paths as a reader of the job summary can use them: relative to the repository, or
    inside the uploaded artifact (ENVCTL_CI_ARTIFACT_NAME, set by the action), never the runner's
    temporary folders."""

    def __init__(self, run_dir: Path, repository: Path) -> None:
        self.run_dir = run_dir
        self.repository = repository
        self.artifact = os.environ.get("ENVCTL_CI_ARTIFACT_NAME", "")

    def __call__(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.repository.resolve()).as_posix()
        except ValueError:
            pass
        inside = path.relative_to(self.run_dir).as_posix() if path.is_relative_to(self.run_dir) else path.name
        if self.artifact:
            return f"{inside} in the artifact {self.artifact}"
        return f"{inside} of run {self.run_dir.name}"

    def where(self) -> str:
        if self.artifact:
            return f"Artifact: `{self.artifact}` (the run directory: output.log, junit.xml, run.json)"
        inside = self.run_dir.resolve().is_relative_to(self.repository.resolve())
        return f"Run directory: `{self(self.run_dir) if inside else self.run_dir.name}`"


def annotate_failed_up(error: EnvironmentFailedError, summary_path: Path | None, out: BinaryIO) -> None:
    """A failed `envctl up` on GitHub Actions: an ``::error`` per failed service, and the same
    in the job summary."""
    for line in github.failed_service_lines(error.failures, error.message):
        out.write((line + "\n").encode())
    out.flush()
    if summary_path is not None:
        lines = ["## envctl up failed", ""]
        lines += [f"- service {code_span(service)}: {clean_text(cause, 500)}"
                  for service, cause in error.failures]
        if not error.failures:
            lines.append(f"> {clean_text(error.message, 2000)}")
        github.write_summary(summary_path, "\n".join(lines) + "\n")
