"""What `--json` prints and what the MCP tools return: one plain value per answer, each naming
its schema (``envctl/schemas/<name>.json``, documented in docs/json.md).

A schema's version changes only when a field is removed or changes meaning; new fields may
appear within a version, so readers ignore the keys they do not know.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envctl.history.verdict import MARK_WORDS
from envctl.text import clean_text

if TYPE_CHECKING:
    from envctl.history.verdict import Verdict
    from envctl.report.failures import Failure
    from envctl.runs.run import Run, RunStatus
    from envctl.runs.state import RunRecord

VERSION = 1
FAILURES_BUDGET = 16 * 1024  # bytes of JSON a default `failures` answer stays under
FAILURES_LIMIT = 20
LIMITED_BUDGET = 256 * 1024  # with an explicit limit: that many tests, but never more than this
MESSAGE_CAP = 500


def tagged(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` behind the name and version of its schema."""
    return {"schema": f"envctl/{name}/{VERSION}", **data}


def commands(run_id: str) -> dict[str, str]:
    """The commands that follow a run, from any shell."""
    return {
        "status": f"envctl status {run_id}",
        "wait": f"envctl wait {run_id} --timeout 100s",
        "logs": f"envctl logs {run_id} --tail 50",
        "failures": f"envctl failures {run_id}",
        "stop": f"envctl stop {run_id}",
    }


def started_view(run_dir: Path, record: RunRecord, *, rerun: int | None = None) -> dict[str, Any]:
    return tagged("started", {
        "run": record.id,
        "id": record.id,
        "state": record.state.value,
        "dir": str(run_dir),
        "log": str(run_dir / "output.log"),
        "container": record.container,
        "shards": len(record.children) or None,
        "rerun": rerun,
        "commands": commands(record.id),
    })


def not_started_view(message: str) -> dict[str, Any]:
    """`--rerun-failed` of a run where nothing failed: nothing was started, and why."""
    return tagged("started", {"run": None, "id": None, "state": None, "dir": None, "log": None,
                              "container": None, "shards": None, "rerun": 0, "commands": None,
                              "message": message})


def _run_fields(record: RunRecord) -> dict[str, Any]:
    return {
        "run": record.id,
        "state": record.state.value,
        "exit_code": record.exit_code if record.state.terminal else None,
        "message": record.message,
        "project": record.project,
        "service": record.service,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "duration": record.duration,
        "counts": asdict(record.counts),
        "command": list(record.command),
        "shard": record.shard,
        "parent": record.parent,
        "children": list(record.children),
        "isolated": record.isolated,
        "cleaned": record.cleaned,
    }


def run_view(record: RunRecord) -> dict[str, Any]:
    return tagged("run", _run_fields(record))


def runs_view(records: list[RunRecord], damaged: list[Any]) -> dict[str, Any]:
    return tagged("runs", {
        "runs": [_run_fields(record) for record in records],
        "damaged": [{"run": error.run_id, "message": error.message} for error in damaged],
    })


def _status_fields(status: RunStatus) -> dict[str, Any]:
    record = status.record
    progress = status.progress
    return {
        "run": record.id,
        "state": record.state.value,
        "message": record.message,
        "exit_code": record.exit_code if record.state.terminal else None,
        "elapsed": status.elapsed,
        "progress": {
            **asdict(progress.counts),
            "current": progress.current,
            "running": list(progress.running),
            "flaky_tests": list(progress.flaky_tests),
            "rate": progress.rate,
            "eta": progress.eta,
            "source": progress.source,
        },
        "running_test": record.running_test,
        "dependency_events": [asdict(event) for event in record.dependency_events],
        "recorded_by_collector": status.collector_alive,
        "limits": asdict(record.limits),
        "on_host": record.host,
        "limits_not_applied": status.limits_note,
        "timeout": record.timeout or None,
        "overdue": None if status.overdue is None else round(status.overdue, 3),
        "hook_problem": status.hook_problem,
        "log": str(status.log_path),
        "last_lines": list(status.last_lines),
        "resources": resources_fields(status),
    }


def resources_fields(status: RunStatus) -> dict[str, Any] | None:
    """The run's resource use as the collector last wrote it (``runs.resource_files``): the
    test container's and each service's, and the 80% warnings; None before a sample (or for a
    --shards parent: each shard has its own)."""
    from envctl.runs.resource_files import read_resources  # noqa: PLC0415

    found = read_resources(status.log_path.parent)  # the run's folder holds its log
    return found.to_json() if found is not None else None


def status_view(status: RunStatus) -> dict[str, Any]:
    return tagged("status", _status_fields(status))


def wait_view(status: RunStatus, *, waited: float) -> dict[str, Any]:
    """The answer of a bounded wait: whether the run ended, and where it is."""
    ended = status.record.state.terminal
    return tagged("wait", {
        "ended": ended,
        "waited": round(waited, 3),
        **_status_fields(status),
        "next": None if ended else commands(status.record.id)["wait"],
    })


def progress_line(status: RunStatus) -> str:
    """One line: where a run is (an agent polls with it)."""
    from envctl.units import format_duration  # noqa: PLC0415

    record = status.record
    counts = status.progress.counts
    total = counts.total if counts.total is not None else "?"
    parts = [f"run {record.id} {record.state.value}: {counts.done}/{total} done",
             f"{counts.failed} failed", f"{counts.errors} errors"]
    if counts.flaky:
        parts.append(f"{counts.flaky} flaky")
    if status.progress.eta is not None and not record.state.terminal:
        parts.append(f"ETA {format_duration(status.progress.eta)}")
    if status.elapsed is not None:
        parts.append(f"elapsed {format_duration(status.elapsed)}")
    line = ", ".join(parts)
    if record.state.terminal:
        return f"{line}; exit {record.exit_code}"
    return f"{line}; still going: `{commands(record.id)['wait']}`"


def _failure(failure: Failure, tail: int, verdict: Verdict | None) -> dict[str, Any]:
    return {
        "test": failure.nodeid,
        "outcome": failure.outcome,
        "file": failure.file,
        "line": failure.line,
        "message": failure.message[:MESSAGE_CAP],
        "tail": list(failure.tail[-tail:]) if tail > 0 else [],
        "history": verdict.mark(failure.nodeid) if verdict is not None else None,
    }


def failures_view(record: RunRecord, failures: list[Failure], total: int, *,
                  limit: int | None = None, tail: int = 6, verdict: Verdict | None = None) -> dict[str, Any]:
    """The failed tests, compact enough for a model's context: each test's id, place, message,
    the last lines of its traceback and what the history says of it (``verdict``: new, old or
    flaky). By default 20 of them within 16 KB of JSON; with a ``limit``, that many within 256 KB
    (a hostile test's texts cannot blow it up)."""
    budget = FAILURES_BUDGET if limit is None else LIMITED_BUDGET
    limit = FAILURES_LIMIT if limit is None else limit
    shown: list[dict[str, Any]] = []
    size = 500  # the envelope
    for failure in failures[:max(0, limit)]:
        item = _failure(failure, tail, verdict)
        cost = len(json.dumps(item)) + 2
        if shown and size + cost > budget:
            break
        shown.append(item)
        size += cost
    more = total - len(shown)
    return tagged("failures", {
        "run": record.id,
        "state": record.state.value,
        "exit_code": record.exit_code if record.state.terminal else None,
        "total": total,
        "shown": len(shown),
        "more": more,
        "failures": shown,
        "hint": (f"{more} more: `envctl failures {record.id} --limit {min(total, len(shown) + 50)}`, "
                 f"or `envctl report {record.id} --format json`") if more else None,
        "history": None if verdict is None else {"runs": verdict.runs, "previous_run": verdict.previous},
    })


def run_failures_view(run: Run, *, limit: int | None = None, tail: int = 6) -> dict[str, Any]:
    """A run's failures as `failures` answers them (the CLI's and the MCP tool's)."""
    from envctl.history import Outcome  # noqa: PLC0415
    from envctl.runs.history import run_verdict  # noqa: PLC0415
    from envctl.runs.results import run_failures  # noqa: PLC0415

    limit = None if limit is None else max(0, limit)
    found, total = run_failures(run.dir, limit=FAILURES_LIMIT if limit is None else limit)
    # The marks of the failures shown need only them: the history holds the rest.
    verdict = run_verdict(run.dir, run.record, [Outcome(f.nodeid, f.outcome, 0.0) for f in found], only=True)
    return failures_view(run.record, found, total, limit=limit, tail=max(0, min(tail, 12)), verdict=verdict)


def failures_text(view: dict[str, Any]) -> str:
    """The failures view as lines for a terminal or an agent's shell."""
    if not view["total"]:
        return f"run {view['run']} ({view['state']}): no failed tests"
    lines = [f"run {view['run']} ({view['state']}): {view['total']} failed or errored test(s)"]
    for item in view["failures"]:
        # Each line through clean_text: the texts come from the test container, and a terminal
        # would act on their escape codes (the clipboard, the screen).
        where = f"  ({clean_text(item['file'], 300)}:{item['line']})" if item["file"] and item["line"] else ""
        label = "FAILED" if item["outcome"] == "failed" else "ERROR"
        mark = f"  [{MARK_WORDS[item['history']]}]" if item.get("history") in MARK_WORDS else ""
        lines.append(f"{label} {clean_text(item['test'], 1000)}{where}{mark}")
        if item["message"]:
            lines += [f"  {clean_text(line, 500)}" for line in item["message"].splitlines()[:3]]
        lines += [f"  | {clean_text(line, 240)}" for line in item["tail"]]
    if view["hint"]:
        lines.append(view["hint"])
    return "\n".join(lines)


def logs_view(record: RunRecord, chunk: Any) -> dict[str, Any]:
    return tagged("logs", {
        "run": record.id,
        "state": record.state.value,
        "text": chunk.text,
        "start": chunk.start,
        "end": chunk.end,
        "size": chunk.size,
        "truncated": chunk.truncated,
        "complete": record.state.terminal and chunk.end >= chunk.size,
    })


def services_view(project: str, rows: list[Any]) -> dict[str, Any]:
    return tagged("services", {
        "project": project,
        "services": [{**asdict(row), "phase": row.phase.value} for row in rows],
    })


def doctor_view(checks: list[Any], failed: bool) -> dict[str, Any]:
    return tagged("doctor", {"ok": not failed, "checks": [check.to_dict() for check in checks]})


def config_view(settings: Any) -> dict[str, Any]:
    from envctl.settings import FIELDS  # noqa: PLC0415

    return tagged("config", {
        "project_dir": str(settings.project_dir),
        "settings": {spec.name: {"value": setting_json(getattr(settings, spec.name)),
                                 "source": settings.sources[spec.name], "env": spec.env} for spec in FIELDS},
    })


def setting_json(value: object) -> object:
    """A setting's value as JSON: a wait is an object, tuples are lists, paths are strings."""
    from envctl.settings import ServiceWait  # noqa: PLC0415

    if isinstance(value, ServiceWait):
        return {"service": value.service, "port": value.port, "http": value.http, "log": value.log,
                "timeout": value.timeout}
    if isinstance(value, (tuple, list)):
        return [setting_json(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def down_view(project: str, volumes: bool) -> dict[str, Any]:
    return tagged("down", {"project": project, "volumes": volumes})
