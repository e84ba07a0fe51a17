"""The command line: each command parses its options, calls one core function, returns a code.

Heavy modules (docker, python_on_whales, structlog, rich) are imported inside the commands so
``envctl --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from envctl import __version__
from envctl.boundary import guarded
from envctl.errors import ExitCode

app = typer.Typer(
    name="envctl",
    help="Run a test suite inside a Docker Compose environment, and get honest results back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _Globals:
    project_dir: Path | None = None
    verbosity: int = 0
    log_format: str | None = None


GLOBALS = _Globals()


def _version(value: bool) -> None:
    if value:
        print(f"envctl {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    project_dir: Annotated[Path | None, typer.Option(
        "--project-dir", "-C", help="Project directory (default: the working directory).")] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log lines.")] = 0,
    quiet: Annotated[int, typer.Option("--quiet", "-q", count=True, help="Fewer log lines.")] = 0,
    log_format: Annotated[str | None, typer.Option(
        help="envctl's log lines: auto, console or json.")] = None,
    context: Annotated[str | None, typer.Option(
        help="Docker context to use (default: DOCKER_CONTEXT, DOCKER_HOST, or docker's own).")] = None,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    GLOBALS.project_dir = project_dir
    GLOBALS.verbosity = verbose - quiet
    GLOBALS.log_format = log_format
    context = context or os.environ.get("DOCKER_CONTEXT")
    if context and context != "default":
        from envctl.docker.engine import use_context  # noqa: PLC0415

        use_context(context)


def _settings(**flags: Any) -> Any:
    """Resolve settings (flags win) and configure logging from them."""
    from envctl import log  # noqa: PLC0415
    from envctl.env.project import redact_secrets  # noqa: PLC0415
    from envctl.settings import load_settings  # noqa: PLC0415

    settings = load_settings(GLOBALS.project_dir, flags={"log_format": GLOBALS.log_format, **flags})
    log.configure(log_format=settings.log_format, verbosity=GLOBALS.verbosity)
    redact_secrets(settings)
    return settings


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, default=str))


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the checks as JSON (envctl/doctor/1).")] = False,
) -> int:
    """Check the engine, the compose plugin, the images, and the log dir; say how to fix each."""
    from envctl.doctor import CheckStatus, run_checks  # noqa: PLC0415

    checks = run_checks(_settings())
    failed = any(c.status is CheckStatus.FAIL for c in checks)
    if as_json:
        from envctl.ui.views import doctor_view  # noqa: PLC0415

        _print_json(doctor_view(checks, failed))
    else:
        from envctl.ui.render import doctor_table  # noqa: PLC0415

        doctor_table(checks)
    return int(ExitCode.DOCTOR_FAILED if failed else ExitCode.OK)


@app.command()
def config(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the settings as JSON (envctl/config/1).")] = False,
) -> int:
    """Print the resolved settings and where each value came from."""
    settings = _settings()
    if as_json:
        from envctl.ui.views import config_view  # noqa: PLC0415

        _print_json(config_view(settings))
    else:
        from envctl.ui.render import settings_table  # noqa: PLC0415

        settings_table(settings)
    return 0


@app.command()
def init(
    workflow: Annotated[bool, typer.Option(
        "--workflow", help="Also write .github/workflows/envctl.yml, which uses the action.")] = False,
) -> int:
    """Write a starting [tool.envctl] (or envctl.toml) from the compose file; never overwrites."""
    from envctl.init import init as write_init  # noqa: PLC0415

    settings = _settings()  # a broken settings file is reported before anything is written
    for written in write_init(settings.project_dir, workflow=workflow):
        if written.created:
            print(f"envctl: wrote {written.path}", file=sys.stderr)
        else:
            print(f"envctl: kept {written.path}: {written.why}; nothing changed there", file=sys.stderr)
    return 0


@app.command()
def up(
    services: Annotated[list[str] | None, typer.Argument(
        help="Services to bring up (default: all but the test service).")] = None,
    timeout: Annotated[str | None, typer.Option(
        help="How long to wait for readiness (e.g. 90s, 5m); default: health_timeout.")] = None,
    build: Annotated[bool | None, typer.Option(
        "--build/--no-build", help="Rebuild images / never build (default: build missing ones).")] = None,
    keep_on_failure: Annotated[bool, typer.Option(
        help="Leave a failed environment running to inspect it.")] = False,
    isolated: Annotated[bool, typer.Option(
        help="A project of its own (unique name, no published host ports); prints its name.")] = False,
) -> int:
    """Start the compose services and wait, on Docker events, until every one is ready."""

    from envctl.errors import EnvironmentFailedError  # noqa: PLC0415

    settings = _settings(health_timeout=timeout)
    env = _environment(settings, isolated)
    targets = env.targets(services or [])
    try:
        if sys.stderr.isatty():
            from envctl.ui.render import LiveServices  # noqa: PLC0415

            with LiveServices(targets) as live:
                env.on_progress = live
                reports = env.up(services or [], build=build, keep_on_failure=keep_on_failure)
        else:
            reports = env.up(services or [], build=build, keep_on_failure=keep_on_failure)
    except EnvironmentFailedError as exc:
        if os.environ.get("GITHUB_ACTIONS") == "true":  # annotated on the run and in its summary
            from envctl.ui.ci import annotate_failed_up  # noqa: PLC0415

            summary = os.environ.get("GITHUB_STEP_SUMMARY")
            annotate_failed_up(exc, Path(summary) if summary else None, sys.stdout.buffer)
        raise
    ready = ", ".join(f"{r.service} ({r.phase.value})" for r in reports)
    print(f"envctl: ready: {ready}", file=sys.stderr)
    if isolated:
        print(f"envctl: isolated project {env.project}; use ENVCTL_PROJECT_NAME={env.project} "
              "with later commands, and `envctl down` (or `envctl gc --older-than`) to remove it",
              file=sys.stderr)
        print(env.project)
    return 0


def _environment(settings: Any, isolated: bool) -> Any:
    """The configured project, or a throwaway one of its own (--isolated)."""
    from envctl.env.environment import Environment  # noqa: PLC0415

    return Environment.isolated(settings) if isolated else Environment(settings)


@app.command()
def down(
    volumes: Annotated[bool, typer.Option("--volumes", "-v", help="Remove volumes too.")] = False,
) -> int:
    """Remove this project's containers and networks (and volumes with --volumes)."""
    from envctl.env.environment import Environment  # noqa: PLC0415

    Environment(_settings()).down(volumes=volumes)
    return 0


@app.command()
def ps(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the services as JSON (envctl/services/1).")] = False,
) -> int:
    """Show the project's services, their state and health."""
    from envctl.env.environment import Environment  # noqa: PLC0415

    env = Environment(_settings())
    rows = env.ps()
    if as_json:
        from envctl.ui.views import services_view  # noqa: PLC0415

        _print_json(services_view(env.project, rows))
    else:
        from envctl.ui.render import services_table  # noqa: PLC0415

        services_table(rows)
    return 0


RunArg = Annotated[str, typer.Argument(help="Run id, or 'latest'.")]


def _store() -> Any:
    from envctl.runs.store import RunStore  # noqa: PLC0415

    return RunStore(_settings().resolved_log_dir)


@app.command(context_settings={"allow_interspersed_args": False})
def test(
    pytest_args: Annotated[list[str] | None, typer.Argument(
        help="Arguments for pytest, after `--`.", show_default=False)] = None,
    detach: Annotated[bool, typer.Option(
        "--detach", "-d", help="Start the run and return its id at once.")] = False,
    timeout: Annotated[str | None, typer.Option(
        help="Stop the run after this long (e.g. 20m); enforced inside the container.")] = None,
    memory: Annotated[str | None, typer.Option(help="Memory limit (e.g. 1g).")] = None,
    cpus: Annotated[str | None, typer.Option(help="CPU limit.")] = None,
    pids: Annotated[str | None, typer.Option(help="Process limit.")] = None,
    no_up: Annotated[bool, typer.Option("--no-up", help="Do not bring the environment up.")] = False,
    shard: Annotated[str | None, typer.Option(
        help="Run only shard K of N (K/N), split the same way on every runner; `auto` reads "
             "GitLab, CircleCI or Buildkite's parallel-job variables (`auto/N`: a Kubernetes "
             "Indexed Job).")] = None,
    isolated: Annotated[bool, typer.Option(
        help="Run in a project of its own, removed after the run (no shared state, no port clash).")] = False,
    shards: Annotated[int | None, typer.Option(
        help="Run N shards at once, each in its own isolated project, and merge them.")] = None,
    rerun_failed: Annotated[str | None, typer.Option(
        help="Run exactly the failed and errored tests of RUN (a run id, 'latest', a merged "
             "report directory or a JUnit file).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="With --detach: print the started run as JSON (envctl/started/1).")] = False,
) -> int:
    """Run the test service's test command (pytest) with limits; --detach survives the shell."""
    from envctl.ui.testing import TestOptions, run_tests  # noqa: PLC0415

    if as_json and not detach:
        from envctl.errors import UsageError  # noqa: PLC0415

        raise UsageError("--json prints the started run: it goes with --detach")
    settings = _settings(run_timeout=timeout, memory=memory, cpus=cpus, pids=pids)
    return run_tests(settings, TestOptions(
        pytest_args=tuple(pytest_args or ()), detach=detach, no_up=no_up, shard=shard,
        isolated=isolated, shards=shards, rerun_failed=rerun_failed, as_json=as_json))


@app.command()
def status(
    run: RunArg = "latest",
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the status as JSON (envctl/status/1).")] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="A live progress bar until the end.")] = False,
    lines: Annotated[int, typer.Option(help="How many output lines to show.")] = 10,
) -> int:
    """State, progress, rate, ETA, the test running now, limits, and the last output lines."""
    from envctl.runs.run import Run  # noqa: PLC0415

    handle = Run(_store(), run)
    if watch:
        from envctl.ui.render import watch_run  # noqa: PLC0415

        watch_run(handle)
    current = handle.status(lines=lines)
    if as_json:
        from envctl.ui.views import status_view  # noqa: PLC0415

        _print_json(status_view(current))
    else:
        from envctl.ui.render import status_text  # noqa: PLC0415

        print(status_text(current))
    return 0


@app.command()
def logs(
    run: RunArg = "latest",
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")] = False,
    tail: Annotated[int | None, typer.Option(help="Only the last N lines.")] = None,
    timestamps: Annotated[bool, typer.Option(
        "--timestamps", "-t", help="Each line behind the time it arrived (UTC, to 0.1 s).")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="A piece of the log as JSON (envctl/logs/1): the last --tail lines (50 by "
                       "default), or --offset's bytes; `end` is the next --offset.")] = False,
    offset: Annotated[int | None, typer.Option(
        help="With --json: output.log from this byte (the previous answer's `end`).")] = None,
    max_bytes: Annotated[int, typer.Option(help="With --json: at most this many bytes.")] = 64 * 1024,
) -> int:
    """Print a run's output log."""
    from envctl.runs.run import Run  # noqa: PLC0415

    handle = Run(_store(), run)
    if not as_json and offset is not None:
        from envctl.errors import UsageError  # noqa: PLC0415

        raise UsageError("--offset reads a piece of the log as JSON: add --json")
    if as_json:
        from envctl.runs.logfile import read_chunk  # noqa: PLC0415
        from envctl.ui.views import logs_view  # noqa: PLC0415

        if follow or timestamps or (offset is not None and tail is not None):
            from envctl.errors import UsageError  # noqa: PLC0415

            raise UsageError("--json prints one piece of the log: the last --tail lines or the "
                             "bytes from --offset; it does not combine with --follow or --timestamps")
        record = handle.record
        _print_json(logs_view(record, read_chunk(handle.dir, offset=offset, tail=tail,
                                                 max_bytes=max(1024, min(max_bytes, 1 << 24)))))
        return 0
    from envctl.ui.follow import print_log  # noqa: PLC0415

    print_log(handle, follow=follow, tail=tail, timestamps=timestamps)
    return 0


@app.command()
def wait(
    run: RunArg = "latest",
    timeout: Annotated[str | None, typer.Option(
        help="Wait at most this long (e.g. 100s): then print one line of progress and exit 25 "
             "while the run goes on.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print where the run is as JSON (envctl/wait/1), ended or not.")] = False,
    ci: Annotated[bool | None, typer.Option(
        "--ci/--no-ci", help="CI mode: heartbeats, folded log, GitHub annotations and job summary "
                             "(default: on when CI=true).")] = None,
) -> int:
    """Block until the run ends; print its summary; exit with pytest's code (or envctl's)."""
    from envctl.runs.run import Run  # noqa: PLC0415
    from envctl.units import parse_duration  # noqa: PLC0415

    settings = _settings()
    from envctl.runs.store import RunStore  # noqa: PLC0415

    handle = Run(RunStore(settings.resolved_log_dir), run)
    if ci and (timeout is not None or as_json):
        from envctl.errors import UsageError  # noqa: PLC0415

        raise UsageError("--ci waits to the end and reports for CI: it takes no --timeout or --json")
    # CI=true turns CI mode on, unless the caller asked for a bounded or JSON answer: an agent
    # in a CI job (CI=true) polls with `wait --timeout`, and must get its answer, not a stop.
    on_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes") and timeout is None and not as_json
    if ci if ci is not None else on_ci:
        from envctl.ui.ci import ci_wait  # noqa: PLC0415

        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        return ci_wait(handle.dir, heartbeat=settings.heartbeat,
                       github_actions=os.environ.get("GITHUB_ACTIONS") == "true",
                       summary_path=Path(summary) if summary else None, out=sys.stdout.buffer)
    try:
        limit = parse_duration(timeout) if timeout else None
    except ValueError as exc:
        from envctl.errors import UsageError  # noqa: PLC0415

        raise UsageError(f"--timeout {timeout!r}: {exc}") from None
    from envctl.ui.waiting import bounded_wait  # noqa: PLC0415

    return bounded_wait(handle, limit, as_json=as_json)


@app.command()
def stop(
    run: RunArg = "latest",
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the run's record as JSON (envctl/run/1).")] = False,
) -> int:
    """Cancel a run: interrupt, then terminate, then kill its container; record it cancelled."""
    from envctl.runs.run import Run  # noqa: PLC0415

    record = Run(_store(), run).stop()
    if as_json:
        from envctl.ui.views import run_view  # noqa: PLC0415

        _print_json(run_view(record))
    if record.state.terminal:
        print(f"envctl: run {record.id}: {record.state.value}", file=sys.stderr)
    else:
        print(f"envctl: run {record.id}: stop requested; it is still {record.state.value} and ends "
              f"cancelled once the step under way stops (`envctl wait {record.id}`)", file=sys.stderr)
    return 0


@app.command()
def runs(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the history as JSON (envctl/runs/1).")] = False,
) -> int:
    """The run history: id, state, start, duration, counts, exit code."""
    found, damaged = _store().scan()
    records = [record for _path, record in found]
    if as_json:
        from envctl.ui.views import runs_view  # noqa: PLC0415

        _print_json(runs_view(records, damaged))
    else:
        from envctl.ui.render import runs_table  # noqa: PLC0415

        runs_table(records, damaged)
    return 0


@app.command()
def failures(
    run: RunArg = "latest",
    limit: Annotated[int | None, typer.Option(
        help="At most this many tests (default: 20, within 16 KB; with a limit, within 256 KB).")] = None,
    tail: Annotated[int, typer.Option(help="Traceback lines per test.")] = 6,
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON (envctl/failures/1).")] = False,
) -> int:
    """The failed tests of a run, compact: id, file:line, message, the traceback's last lines."""
    from envctl.runs.run import Run  # noqa: PLC0415
    from envctl.ui.views import failures_text, run_failures_view  # noqa: PLC0415

    view = run_failures_view(Run(_store(), run), limit=limit, tail=tail)
    if as_json:
        _print_json(view)
    else:
        print(failures_text(view))
    return 0


@app.command()
def mcp() -> int:
    """Serve envctl's tools to a coding agent over MCP (stdio); needs `pip install 'envctl[mcp]'`."""
    from envctl import signals  # noqa: PLC0415
    from envctl.ui.mcp_server import serve  # noqa: PLC0415

    signals.by_default()  # a server ends on SIGTERM at once; the runs it started go on
    serve(GLOBALS.project_dir)
    return 0


@app.command()
def report(
    run: Annotated[str, typer.Argument(help="Run id, 'latest', or 'merge' followed by inputs.")] = "latest",
    inputs: Annotated[list[Path] | None, typer.Argument(
        help="With `merge`: shard run directories or JUnit files.", show_default=False)] = None,
    fmt: Annotated[str, typer.Option("--format", help="md, json, csv or junit.")] = "md",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    junit_out: Annotated[Path | None, typer.Option(help="With merge: write the merged JUnit here.")] = None,
    durations_out: Annotated[Path | None, typer.Option(
        help="With merge: write durations here (default: the durations_file setting).")] = None,
) -> int:
    """The aggregated results of a run; `report merge INPUTS...` merges shards into one."""
    from envctl.errors import UsageError  # noqa: PLC0415
    from envctl.runs.run import Run  # noqa: PLC0415
    from envctl.ui.report import FORMATS, render  # noqa: PLC0415

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if as_json:  # every read command takes --json
        if fmt not in ("md", "json"):
            raise UsageError(f"--json and --format {fmt} ask for two formats")
        fmt = "json"
    if run == "merge":
        return _report_merge(inputs or [], fmt, junit_out, durations_out)
    if inputs:
        raise UsageError("only `report merge` takes more than one argument")
    handle = Run(_store(), run)
    sys.stdout.write(render(handle.dir, handle.record, fmt))
    return 0


def _report_merge(inputs: list[Path], fmt: str, junit_out: Path | None,
                  durations_out: Path | None) -> int:
    from envctl.report import merge  # noqa: PLC0415
    from envctl.report.summary import merged_render  # noqa: PLC0415

    settings = _settings()
    results = merge.merge(inputs)
    if junit_out is not None:
        merge.write_junit(results, junit_out)
    merge.write_durations(results, durations_out or settings.resolved_durations_file)
    code = merge.exit_code(results)
    sys.stdout.write(merged_render(results, fmt, code))
    return code


@app.command()
def gc(
    older_than: Annotated[str | None, typer.Option(
        help="Also remove isolated projects (containers, networks, volumes) left by crashed runs, "
             "older than this (e.g. 2h).")] = None,
) -> int:
    """Rotate run records (keep_runs, max_age); with --older-than, remove stale isolated projects."""
    from envctl.runs.rotation import rotate  # noqa: PLC0415
    from envctl.runs.store import RunStore  # noqa: PLC0415

    settings = _settings()
    removed = rotate(RunStore(settings.resolved_log_dir), keep=settings.keep_runs,
                     max_age=settings.max_age)
    print(f"envctl: removed {len(removed)} run(s)" + (f": {', '.join(removed)}" if removed else ""),
          file=sys.stderr)
    if older_than is not None:
        from envctl.errors import UsageError  # noqa: PLC0415
        from envctl.gc import remove_stale_projects  # noqa: PLC0415
        from envctl.units import parse_duration  # noqa: PLC0415

        try:
            age = parse_duration(older_than)
        except ValueError as exc:
            raise UsageError(f"--older-than {older_than!r}: {exc}") from None
        for project, objects in remove_stale_projects(age, timeout=settings.docker_timeout).items():
            print(f"envctl: removed isolated project {project}: {objects}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``envctl`` console script."""
    return guarded(lambda: _dispatch(sys.argv[1:] if argv is None else argv))


def run() -> None:
    """Console-script entry: run, flush, and leave without interpreter teardown.

    Tearing down the docker, requests and rich modules costs ~130 ms after the work is done,
    which would be most of `envctl up`'s latency after the last service turns healthy. Every
    file envctl writes is closed (and state files fsynced) before this point.
    """
    from envctl.files import ensure_standard_descriptors  # noqa: PLC0415

    ensure_standard_descriptors()  # a lock or log opened on a closed fd 0-2 would be lost in a child
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _dispatch(argv: list[str]) -> int:
    try:
        result = app(args=argv, standalone_mode=False, prog_name="envctl")
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort as exc:
        # click turns every KeyboardInterrupt into Abort: give back the one that was raised (a
        # SIGTERM or SIGHUP carries its signal, for the exit code).
        cause = exc.__cause__ or exc.__context__
        raise (cause if isinstance(cause, KeyboardInterrupt) else KeyboardInterrupt()) from None
    except typer.TyperException as exc:
        # click's usage errors exit 2, which is pytest's; envctl's usage code is 10.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            print(f"envctl: error: {exc.format_message()}", file=sys.stderr)
        return int(ExitCode.USAGE)
    return int(result) if isinstance(result, int) else 0
