"""The command line: each command declares its options, calls one verb (envctl/verbs/) and
prints what it returns; the exit code is the verb's.

Heavy modules (docker, python_on_whales, structlog, rich) and the verbs are imported inside the
commands so ``envctl --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from envctl.boundary import dispatch, guarded
from envctl.ui.cli_state import GLOBALS, print_json, print_stopped, version
from envctl.ui.cli_state import settings as resolve_settings
from envctl.ui.quick import command_named

app = typer.Typer(
    name="envctl",
    help="Run a test suite inside a Docker Compose environment, and get honest results back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    project_dir: Annotated[Path | None, typer.Option(
        "--project-dir", "-C", metavar="DIR",
        help="Project directory (default: the working directory).")] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log lines.")] = 0,
    quiet: Annotated[int, typer.Option("--quiet", "-q", count=True, help="Fewer log lines.")] = 0,
    log_format: Annotated[str | None, typer.Option(
        metavar="auto|console|json", help="envctl's log lines (default: auto).")] = None,
    context: Annotated[str | None, typer.Option(
        metavar="NAME",
        help="Docker context to use (default: DOCKER_CONTEXT, DOCKER_HOST, or docker's own).")] = None,
    version: Annotated[bool, typer.Option(
        "--version", callback=version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    GLOBALS.project_dir = project_dir
    GLOBALS.verbosity = verbose - quiet
    GLOBALS.log_format = log_format
    from envctl.verbs.engine import use_context  # noqa: PLC0415

    use_context(context or os.environ.get("DOCKER_CONTEXT"))


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the checks as JSON (envctl/doctor/1).")] = False,
) -> int:
    """Check the engine, the compose plugin, the images, and the log dir; say how to fix each."""
    from envctl.verbs import setup  # noqa: PLC0415

    result = setup.doctor(resolve_settings())
    if as_json:
        from envctl.ui.views import doctor_view  # noqa: PLC0415

        print_json(doctor_view(result.checks, result.failed))
    else:
        from envctl.ui.render import doctor_table  # noqa: PLC0415

        doctor_table(result.checks)
    return result.exit_code


@app.command()
def config(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the settings as JSON (envctl/config/1).")] = False,
) -> int:
    """Print the resolved settings and where each value came from."""
    settings = resolve_settings()
    if as_json:
        from envctl.verbs import setup  # noqa: PLC0415

        print_json(setup.config(settings))
    else:
        from envctl.ui.render import settings_table  # noqa: PLC0415

        settings_table(settings)
    return 0


@app.command()
def init(
    workflow: Annotated[bool, typer.Option(
        "--workflow", help="Also write .github/workflows/envctl.yml, which uses the action.")] = False,
    action: Annotated[str | None, typer.Option(metavar="OWNER/REPO@REF", help=(
        "The action the workflow uses (default: this envctl checkout's origin and v<major>)."))] = None,
    test_service: Annotated[bool, typer.Option("--test-service", help=(
        "With no test service, write one (compose.envctl.yaml, Dockerfile.test)."))] = False,
    k8s: Annotated[bool, typer.Option("--k8s", help=(
        "Also write k8s/envctl-job.yaml: a Kubernetes Indexed Job, a shard per pod."))] = False,
    shards: Annotated[int | None, typer.Option(
        metavar="N", help="With --k8s: how many shards (default 4).")] = None,
) -> int:
    """Write a starting [tool.envctl] (or envctl.toml) from the compose file; never overwrites."""
    from envctl.verbs import setup  # noqa: PLC0415

    report = setup.init(resolve_settings(), workflow=workflow, test_service=test_service, action=action,
                        k8s=k8s, shards=shards)
    sys.stdout.write(report.summary())
    return 0


@app.command()
def up(
    services: Annotated[list[str] | None, typer.Argument(
        help="Services to bring up (default: all but the test service).")] = None,
    timeout: Annotated[str | None, typer.Option(
        metavar="DURATION",
        help="How long to wait for readiness (e.g. 90s, 5m); default: health_timeout.")] = None,
    build: Annotated[bool | None, typer.Option(
        "--build/--no-build", help="Rebuild images / never build (default: build missing ones).")] = None,
    keep_on_failure: Annotated[bool, typer.Option(
        help="Leave a failed environment running to inspect it.")] = False,
    isolated: Annotated[bool, typer.Option(
        help="A project of its own (unique name, no published host ports); prints its name.")] = False,
) -> int:
    """Start the compose services and wait, on Docker events, until every one is ready."""
    from envctl.ui.services import bring_up  # noqa: PLC0415
    from envctl.verbs.env import UpOptions  # noqa: PLC0415

    return bring_up(resolve_settings(health_timeout=timeout), UpOptions(
        services=tuple(services or ()), build=build, keep_on_failure=keep_on_failure), isolated=isolated)


@app.command()
def down(
    volumes: Annotated[bool, typer.Option("--volumes", "-v", help="Remove volumes too.")] = False,
) -> int:
    """Remove this project's containers and networks (and volumes with --volumes)."""
    from envctl.verbs import env  # noqa: PLC0415

    env.down(resolve_settings(), volumes=volumes)
    return 0


@app.command()
def ps(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the services as JSON (envctl/services/1).")] = False,
) -> int:
    """Show the project's services, their state and health."""
    from envctl.verbs import env  # noqa: PLC0415

    found = env.ps(resolve_settings())
    if as_json:
        from envctl.ui.views import services_view  # noqa: PLC0415

        print_json(services_view(found.project, found.rows))
    else:
        from envctl.ui.render import services_table  # noqa: PLC0415

        services_table(found.rows)
    return 0


@app.command("env")
def env_command(
    fmt: Annotated[str, typer.Option("--format", metavar="text|json|dotenv|sh", help=(
        "json: envctl/env/1; dotenv, sh: the ENVCTL_* variables, as a .env file or for eval."))] = "text",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    probe: Annotated[bool, typer.Option(help="Try each TCP port with a GET (0.5 s) for its URL.")] = True,
) -> int:
    """How to reach each running service from this machine: host, published ports, URL."""
    from envctl.ui.endpoints import show  # noqa: PLC0415
    return show(resolve_settings, fmt=fmt, as_json=as_json, probe=probe)


RunArg = Annotated[str, typer.Argument(help="Run id, or 'latest'.")]


def _run(run_id: str) -> Any:
    from envctl.verbs.runs import open_run  # noqa: PLC0415

    return open_run(resolve_settings(), run_id)


@app.command(context_settings={"allow_interspersed_args": False})
def test(
    pytest_args: Annotated[list[str] | None, typer.Argument(
        help="Arguments for pytest, after `--`.", show_default=False)] = None,
    detach: Annotated[bool, typer.Option(
        "--detach", "-d", help="Start the run and return its id at once.")] = False,
    timeout: Annotated[str | None, typer.Option(
        metavar="DURATION",
        help="Stop the run after this long (e.g. 20m; default: run_timeout, none).")] = None,
    memory: Annotated[str | None, typer.Option(
        metavar="SIZE", help="Memory limit of the test container (e.g. 1g; default: memory, 2g).")] = None,
    cpus: Annotated[str | None, typer.Option(
        metavar="N", help="CPU limit; pytest-xdist's -n auto uses it (default: cpus, 2).")] = None,
    pids: Annotated[str | None, typer.Option(metavar="N",
    help="Process limit (default: pids, 1024).")] = None,
    no_up: Annotated[bool, typer.Option("--no-up", help="Do not bring the environment up.")] = False,
    shard: Annotated[str | None, typer.Option(
        metavar="K/N|auto",
        help="Run only shard K of N (K/N), split the same way on every runner; `auto` reads "
             "GitLab, CircleCI or Buildkite's parallel-job variables (`auto/N`: a Kubernetes "
             "Indexed Job).")] = None,
    isolated: Annotated[bool, typer.Option(
        help="Run in a project of its own, removed after the run (no shared state, no port clash).")] = False,
    shards: Annotated[int | None, typer.Option(
        metavar="N", help="Run N shards at once, each in its own isolated project, and merge them.")] = None,
    engines: Annotated[str | None, typer.Option(
        metavar="A,B", help="With --shards: the Docker engines (contexts or addresses, each "
             "optionally =CPUS) to place the shards on, by their CPUs (default: engines).")] = None,
    retry_infra: Annotated[bool, typer.Option(
        "--retry-infra", help="With --shards: a shard the infrastructure ended (an engine lost) runs "
             "once more, on an engine still up.")] = False,
    rerun_failed: Annotated[str | None, typer.Option(
        metavar="RUN", help="Run exactly the failed and errored tests of RUN (a run id, 'latest', a merged "
             "report directory or a JUnit file).")] = None,
    resume: Annotated[str | None, typer.Option(metavar="RUN", help=(
        "Run exactly the tests RUN did not finish (it was cancelled, timed out, killed...), with its "
        "options; the result covers the whole suite."))] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="With --resume: resume even if the code or the environment changed.")] = False,
    host: Annotated[bool, typer.Option("--host", help=(
        "Run pytest on this machine (host_command) against the environment, its services' "
        "addresses in ENVCTL_<SERVICE>_* variables; recorded as any run."))] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="With --detach: print the started run as JSON (envctl/started/1).")] = False,
) -> int:
    """Run the test service's test command (pytest) with limits; --detach survives the shell."""
    from envctl.ui.testing import test_command  # noqa: PLC0415  # the quick path's too

    return test_command(tuple(pytest_args or ()), detach=detach, no_up=no_up, as_json=as_json,
                        timeout=timeout, memory=memory, cpus=cpus, pids=pids, shard=shard,
                        isolated=isolated, shards=shards, engines=engines, retry_infra=retry_infra,
                        rerun_failed=rerun_failed, resume=resume, force=force, host=host)


@app.command()
def status(
    run: RunArg = "latest",
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the status as JSON (envctl/status/1).")] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="A live progress bar until the end.")] = False,
    lines: Annotated[int, typer.Option(metavar="N", min=0, help="How many output lines to show.")] = 10,
) -> int:
    """State, progress, rate, ETA, the test running now, limits, and the last output lines."""
    from envctl.ui.quick import show_status  # noqa: PLC0415  # the same answer as the quick path's

    handle = _run(run)
    if watch:
        from envctl.ui.render import watch_run  # noqa: PLC0415

        watch_run(handle)
    return show_status(run, as_json=as_json, lines=lines, handle=handle)


@app.command()
def logs(
    run: RunArg = "latest",
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")] = False,
    tail: Annotated[int | None, typer.Option(metavar="N", help="Only the last N lines.")] = None,
    timestamps: Annotated[bool, typer.Option(
        "--timestamps", "-t", help="Each line behind the time it arrived (UTC, to 0.1 s).")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="A piece of the log as JSON (envctl/logs/1): the last --tail lines (50 by "
                       "default), or --offset's bytes; `end` is the next --offset.")] = False,
    offset: Annotated[int | None, typer.Option(
        metavar="BYTES",
        help="With --json: output.log from this byte (the previous answer's `end`).")] = None,
    max_bytes: Annotated[int, typer.Option(metavar="BYTES",
    help="With --json: at most this many bytes.")] = 64 * 1024,
) -> int:
    """Print a run's output log."""
    from envctl.ui.follow import print_log  # noqa: PLC0415
    from envctl.verbs import logs as log_verb  # noqa: PLC0415

    handle = _run(run)
    options = log_verb.LogsOptions(follow=follow, tail=tail, timestamps=timestamps, as_json=as_json,
                                   offset=offset, max_bytes=max_bytes)
    if as_json:
        print_json(log_verb.piece(handle, options))
        return 0
    log_verb.check_options(options)
    print_log(handle, follow=follow, tail=tail, timestamps=timestamps)
    return 0


@app.command()
def wait(
    run: RunArg = "latest",
    timeout: Annotated[str | None, typer.Option(
        metavar="DURATION",
        help="Wait at most this long (e.g. 100s): then print one line of progress and exit 25 "
             "while the run goes on.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print where the run is as JSON (envctl/wait/1), ended or not.")] = False,
    ci: Annotated[bool | None, typer.Option(
        "--ci/--no-ci", help="CI mode: heartbeats, folded log, GitHub annotations and job summary "
                             "(default: on when CI=true).")] = None,
) -> int:
    """Block until the run ends; print its summary; exit with pytest's code (or envctl's)."""
    from envctl.ui import environ  # noqa: PLC0415
    from envctl.ui.pipes import outlive_readers  # noqa: PLC0415
    from envctl.ui.waiting import bounded_wait  # noqa: PLC0415
    from envctl.verbs import runs as run_verbs  # noqa: PLC0415
    from envctl.verbs import wait as wait_verb  # noqa: PLC0415

    options = wait_verb.WaitOptions(timeout=timeout, as_json=as_json, ci=ci)
    limit = wait_verb.time_limit(options)  # flags first: a bad value never waits on a lookup
    outlive_readers()  # `envctl wait --ci | head`: the answer is still the run's (ui/pipes.py)
    on_ci = wait_verb.ci_mode(options, on_ci=environ.on_ci())
    settings = resolve_settings()
    handle = run_verbs.open_run(settings, run)
    if on_ci:
        from envctl.ui.ci import ci_wait  # noqa: PLC0415

        return ci_wait(handle.dir, heartbeat=settings.heartbeat, github_actions=environ.github_actions(),
                       summary_path=environ.step_summary(), out=sys.stdout.buffer)
    return bounded_wait(handle, limit, as_json=as_json)


@app.command()
def stop(
    run: RunArg = "latest",
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the run's record as JSON (envctl/run/1).")] = False,
) -> int:
    """Cancel a run: interrupt, then terminate, then kill its container; record it cancelled."""
    from envctl.verbs import runs as run_verbs  # noqa: PLC0415

    print_stopped(run_verbs.stop(resolve_settings(), run), as_json=as_json)
    return 0


@app.command()
def runs(
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the history as JSON (envctl/runs/1).")] = False,
) -> int:
    """The run history: id, state, start, duration, counts, exit code."""
    from envctl.verbs import runs as run_verbs  # noqa: PLC0415

    found = run_verbs.history(resolve_settings())
    if as_json:
        from envctl.ui.views import runs_view  # noqa: PLC0415

        print_json(runs_view(found.records, found.damaged))
    else:
        from envctl.ui.render import runs_table  # noqa: PLC0415

        runs_table(found.records, found.damaged)
    return 0


@app.command()
def failures(
    run: RunArg = "latest",
    limit: Annotated[int | None, typer.Option(
        metavar="N",
        help="At most this many tests (default: 20, within 16 KB; with a limit, within 256 KB).")] = None,
    tail: Annotated[int, typer.Option(metavar="N", help="Traceback lines per test.")] = 6,
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON (envctl/failures/1).")] = False,
) -> int:
    """The failed tests of a run, compact: id, file:line, message, the traceback's last lines."""
    from envctl.verbs import runs as run_verbs  # noqa: PLC0415

    view = run_verbs.failures(resolve_settings(), run, limit=limit, tail=tail)
    if as_json:
        print_json(view)
    else:
        from envctl.ui.views import failures_text  # noqa: PLC0415

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
    fmt: Annotated[str, typer.Option("--format", metavar="md|json|csv|junit|html",
    help="The report's format.")] = "md",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    junit_out: Annotated[Path | None, typer.Option(
        metavar="FILE", help="With merge: write the merged JUnit here.")] = None,
    durations_out: Annotated[Path | None, typer.Option(
        metavar="FILE",
        help="With merge: write durations here (default: the durations_file setting).")] = None,
) -> int:
    """The aggregated results of a run; `report merge INPUTS...` merges shards into one."""
    from envctl.verbs import report as report_verb  # noqa: PLC0415

    options = report_verb.ReportOptions(run=run, inputs=tuple(inputs or ()), fmt=fmt, as_json=as_json,
                                        junit_out=junit_out, durations_out=durations_out)
    chosen = report_verb.check_options(options)
    if run == "merge":
        merged = report_verb.merge(resolve_settings(), options, chosen)
        sys.stdout.write(merged.text)
        return merged.exit_code
    sys.stdout.write(report_verb.render(_run(run), chosen))
    return 0


@app.command()
def gc(
    older_than: Annotated[str | None, typer.Option(
        metavar="DURATION",
        help="Also remove isolated projects (containers, networks, volumes) left by crashed runs, "
             "older than this (e.g. 2h).")] = None,
) -> int:
    """Rotate run records (keep_runs, max_age); with --older-than, remove stale isolated projects."""
    from envctl.ui.render import gc_lines  # noqa: PLC0415
    from envctl.verbs import gc as gc_verb  # noqa: PLC0415

    age = gc_verb.older_than_seconds(older_than)  # a bad value is the first answer, before any change
    print("\n".join(gc_lines(gc_verb.collect(resolve_settings(), age))), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line, parsed and answered (envctl.entry calls it for all but a plain `status`)."""
    args = sys.argv[1:] if argv is None else argv
    return guarded(lambda: dispatch(app, args, command=command_named(args)))
