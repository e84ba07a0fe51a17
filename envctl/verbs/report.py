"""`envctl report`: a run's results in a format, and `report merge` of shards into one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.errors import UsageError
from envctl.report.summary import FORMATS

if TYPE_CHECKING:
    from envctl.runs.run import Run
    from envctl.settings import Settings


@dataclass(frozen=True)
class ReportOptions:
    """The options of `envctl report`."""

    run: str = "latest"  # or "merge"
    inputs: tuple[Path, ...] = ()
    fmt: str = "md"
    as_json: bool = False
    junit_out: Path | None = None
    durations_out: Path | None = None


def resolve_format(options: ReportOptions) -> str:
    """The one format asked for; --json is --format json (every read command takes --json)."""
    if options.fmt not in FORMATS:
        raise UsageError(f"--format {options.fmt!r}: expected one of {', '.join(FORMATS)}")
    if options.as_json:
        if options.fmt not in ("md", "json"):
            raise UsageError(f"--json and --format {options.fmt} ask for two formats")
        return "json"
    return options.fmt


def check_options(options: ReportOptions) -> str:
    """The format, once the arguments are known to fit together."""
    fmt = resolve_format(options)
    if options.run != "merge" and options.inputs:
        raise UsageError("only `report merge` takes more than one argument")
    return fmt


def render(run: Run, fmt: str) -> str:
    """A run's results as text in ``fmt``."""
    from envctl.ui.report import render as render_run  # noqa: PLC0415

    return render_run(run.dir, run.record, fmt)


@dataclass(frozen=True)
class Merged:
    """The merged report's text and the exit code the merged results give."""

    text: str
    exit_code: int


def merge(settings: Settings, options: ReportOptions, fmt: str) -> Merged:
    """Merge shard run directories or JUnit files; write the merged JUnit and the durations;
    record the merged suite in the history (shard runs of one command whose parent did not) and
    say what the history says of it."""
    from envctl.report import merge as merging  # noqa: PLC0415
    from envctl.report.summary import merged_render  # noqa: PLC0415
    from envctl.runs.history import merged_verdict  # noqa: PLC0415

    results = merging.merge(list(options.inputs))
    if options.junit_out is not None:
        merging.write_junit(results, options.junit_out)
    merging.write_durations(results, options.durations_out or settings.resolved_durations_file)
    code = merging.exit_code(results)
    verdict = merged_verdict(options.inputs, results, settings.resolved_history_file)
    return Merged(merged_render(results, fmt, code, verdict), code)
