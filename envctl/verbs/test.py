"""`envctl test` and the MCP tools `start_run` / `rerun_failed`: what to run (a rerun of
failures, a resume of what a run did not finish, a shard, N shards) and start it. Following it
to its end is the terminal's (envctl/ui/testing.py)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.errors import UsageError
from envctl.runs.launch import RunRequest, start_detached
from envctl.runs.state import RunRecord
from envctl.settings import Settings

if TYPE_CHECKING:
    from envctl.runs.placement import EnginePlace


@dataclass(frozen=True)
class TestOptions:
    """The options of `envctl test`, parsed."""

    __test__ = False  # not a pytest test class, whatever its name

    pytest_args: tuple[str, ...] = ()
    detach: bool = False
    no_up: bool = False
    shard: str | None = None
    isolated: bool = False
    shards: int | None = None
    rerun_failed: str | None = None
    resume: str | None = None  # the run whose unfinished tests to run (runs/resume.py)
    force: bool = False  # resume even though the code or the environment changed
    host: bool = False  # pytest on this machine against the environment (runs/host_run.py)
    cwd: str | None = None  # with host: the folder the tests run in (None: the project's)
    as_json: bool = False
    engines_given: bool = False  # --engines (the engines themselves are a setting)
    retry_infra: bool = False  # with shards: one the infrastructure ended runs once more


@dataclass(frozen=True)
class Started:
    """A run that was started (or not: nothing to rerun), and what to tell the user about it."""

    run_dir: Path | None
    record: RunRecord | None
    notes: tuple[str, ...] = ()
    rerun: int | None = None  # with --rerun-failed: how many tests are run again


def check_options(options: TestOptions) -> None:
    """The rules that need no settings, checked before anything is read or started."""
    if options.as_json and not options.detach:
        raise UsageError("--json prints the started run: it goes with --detach")
    if options.force and options.resume is None:
        raise UsageError("--force goes with --resume: it resumes a run whose code or environment changed")
    if options.resume is not None:
        others = [flag for flag, given in (("--rerun-failed", options.rerun_failed is not None),
                                           ("--shard", options.shard is not None),
                                           ("--shards", options.shards is not None),
                                           ("--isolated", options.isolated),
                                           ("--host", options.host)) if given]
        if others:
            raise UsageError(f"--resume runs the rest of a run as it ran: it does not combine with "
                             f"{', '.join(others)}")
    if options.host and (options.shards is not None or options.isolated):
        flag = "--shards" if options.shards is not None else "--isolated"
        raise UsageError(f"--host runs pytest on this machine against the environment: {flag} does not "
                         "combine with it", hint="use pytest-xdist (-n N) for parallel tests on this "
                         "machine, or --shard K/N" if flag == "--shards" else "an isolated project "
                         "publishes no ports for this machine to reach")
    for flag, given in (("--engines", options.engines_given), ("--retry-infra", options.retry_infra)):
        if given and options.shards is None:
            raise UsageError(f"{flag} goes with --shards N: it is about where shards run")
    if options.host and not Path("/proc/self/stat").exists():
        raise UsageError("--host needs /proc (Linux): the run's runner is found again by its pid and "
                         "start time", hint="run the tests in the test service (without --host)")


def start_run(settings: Settings, options: TestOptions) -> Started:
    """Start the run (in the background from the collector on); print nothing. In the
    foreground (not ``detach``) the environment is brought up here first, so its progress and
    failures show to the caller."""
    from envctl.api import Environment  # noqa: PLC0415

    check_options(options)
    if options.resume is not None:
        return _resume(settings, options)
    args = options.pytest_args
    notes: list[str] = []
    rerun: int | None = None
    if options.shard is not None:
        from envctl.ci_shard import parse_shard, resolve_shard  # noqa: PLC0415

        options = dataclasses.replace(options, shard=resolve_shard(options.shard, os.environ))
        try:
            parse_shard(str(options.shard))
        except ValueError as exc:
            raise UsageError(f"--shard: {exc}") from None
    if options.shards is not None and (options.shards < 1 or options.shard):
        raise UsageError("--shards takes a number >= 1, and does not combine with --shard")
    if options.rerun_failed is not None:
        from envctl.runs.rerun import ran_on_host, rerun_options  # noqa: PLC0415

        source = options.rerun_failed
        nodeids = failed_tests(settings, source, notes)
        if not nodeids:
            return Started(None, None, tuple(notes), 0)
        if not options.host and ran_on_host(settings, source):
            options = dataclasses.replace(options, host=True)  # where they failed
            notes.append("on this machine (--host), as the run that failed did")
        rerun = len(nodeids)
        # The first run's options first, so those given now override them (pytest keeps the last).
        carried = rerun_options(settings, source, options.pytest_args)
        args = (*carried, *args, *nodeids)
        if carried or options.pytest_args:
            notes.append(f"with the options: {' '.join([*carried, *options.pytest_args])}")
    request = RunRequest(pytest_args=args, timeout=settings.run_timeout, memory=settings.memory,
                         cpus=settings.cpus, pids=settings.pids, no_up=options.no_up, shard=options.shard,
                         host=options.host, cwd=(options.cwd or str(settings.project_dir)) if options.host
                         else None)
    if options.shards is not None:
        from envctl.runs.shards import start_shards  # noqa: PLC0415

        parent_dir, parent = start_shards(settings, request, options.shards, engines=_engines(settings),
                                          retry_infra=options.retry_infra)
        return Started(parent_dir, parent, tuple(notes), rerun)
    env = Environment.isolated(settings) if options.isolated else Environment(settings)
    if not options.detach and not options.no_up:
        env.ensure_up()  # in the foreground, so its progress and failures show here
    run_dir, record = start_detached(env, request)
    return Started(run_dir, record, tuple(notes), rerun)


def _engines(settings: Settings) -> list[EnginePlace] | None:
    """The engines the shards go to (None: this process's one engine)."""
    if not settings.engines:
        return None
    from envctl.runs.placement import resolve  # noqa: PLC0415

    return resolve(settings.engines)


def _resume(settings: Settings, options: TestOptions) -> Started:
    """The tests ``options.resume`` did not finish, with its options (runs/resume.py)."""
    from envctl.runs.resume import ShardsPlan, plan  # noqa: PLC0415

    resume = plan(settings, str(options.resume), force=options.force, pytest_args=options.pytest_args,
                  no_up=options.no_up)
    if isinstance(resume, ShardsPlan):
        from envctl.runs import resume_shards  # noqa: PLC0415

        parent_dir, parent = resume_shards.start(settings, resume)
        return Started(parent_dir, parent, resume.notes)
    if not options.detach and not resume.request.no_up:
        resume.env.ensure_up()  # in the foreground, so its progress and failures show here
    run_dir, record = start_detached(resume.env, resume.request, setup=resume.setup)
    return Started(run_dir, record, resume.notes)


@dataclass(frozen=True)
class Launched:
    """A run started in the background, and what to tell the caller about it."""

    run_dir: Path
    record: RunRecord
    notes: tuple[str, ...] = ()
    rerun: int | None = None


def start_in_background(settings: Settings, options: TestOptions) -> Launched:
    """A detached start that must start something (the MCP tools): nothing to rerun is an error."""
    started = start_run(settings, dataclasses.replace(options, detach=True))
    if started.run_dir is None or started.record is None:
        raise UsageError("; ".join(started.notes) or "nothing to run")
    return Launched(started.run_dir, started.record, started.notes, started.rerun)


def failed_tests(settings: Settings, source: str, notes: list[str]) -> list[str]:
    """The failed tests of ``source`` to run again (none when nothing failed)."""
    from envctl.runs.rerun import failed_nodeids  # noqa: PLC0415

    label, nodeids, refused = failed_nodeids(settings, source)
    if refused:
        notes.append(f"not rerunning {len(refused)} test id(s) that cannot be pytest arguments "
                     f"(options, argument files, control characters): "
                     f"{', '.join(repr(n[:80]) for n in refused[:5])}")
    if not nodeids:
        notes.append(f"nothing failed in {label}; nothing to rerun")
        return []
    notes.append(f"rerunning {len(nodeids)} failed test(s) of {label}")
    return nodeids
