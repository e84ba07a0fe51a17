"""`envctl test`: what to run (a rerun of failures, a shard, N shards), start it, and either
return its id (--detach) or follow it to its end."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from envctl.errors import UsageError
from envctl.runs.launch import RunRequest, start_detached
from envctl.runs.state import RunRecord
from envctl.settings import Settings


@dataclass(frozen=True)
class TestOptions:
    """The command line of `envctl test`, parsed."""

    __test__ = False  # not a pytest test class, whatever its name

    pytest_args: tuple[str, ...] = ()
    detach: bool = False
    no_up: bool = False
    shard: str | None = None
    isolated: bool = False
    shards: int | None = None
    rerun_failed: str | None = None
    as_json: bool = False


@dataclass(frozen=True)
class Started:
    """A run that was started (or not: nothing to rerun), and what to tell the user about it."""

    run_dir: Path | None
    record: RunRecord | None
    notes: tuple[str, ...] = ()
    rerun: int | None = None  # with --rerun-failed: how many tests are run again


def start_run(settings: Settings, options: TestOptions) -> Started:
    """Start the run (in the background from the collector on); print nothing. In the
    foreground (not ``detach``) the environment is brought up here first, so its progress and
    failures show to the caller."""
    from envctl.api import Environment  # noqa: PLC0415

    args = options.pytest_args
    notes: list[str] = []
    rerun: int | None = None
    if options.shard is not None:
        from envctl.ci_shard import resolve_shard  # noqa: PLC0415
        from envctl.pytest_plugin.envctl_shards import parse_shard  # noqa: PLC0415

        options = dataclasses.replace(options, shard=resolve_shard(options.shard, os.environ))
        try:
            parse_shard(str(options.shard))
        except ValueError as exc:
            raise UsageError(f"--shard: {exc}") from None
    if options.shards is not None and (options.shards < 1 or options.shard):
        raise UsageError("--shards takes a number >= 1, and does not combine with --shard")
    if options.rerun_failed is not None:
        from envctl.runs.rerun import rerun_options  # noqa: PLC0415

        nodeids = _failed_tests(settings, options.rerun_failed, notes)
        if not nodeids:
            return Started(None, None, tuple(notes), 0)
        rerun = len(nodeids)
        # The first run's options first, so those given now override them (pytest keeps the last).
        carried = rerun_options(settings, options.rerun_failed, options.pytest_args)
        args = (*carried, *args, *nodeids)
        if carried or options.pytest_args:
            notes.append(f"with the options: {' '.join([*carried, *options.pytest_args])}")
    request = RunRequest(pytest_args=args, timeout=settings.run_timeout, memory=settings.memory,
                         cpus=settings.cpus, pids=settings.pids, no_up=options.no_up, shard=options.shard)
    if options.shards is not None:
        from envctl.runs.shards import start_shards  # noqa: PLC0415

        parent_dir, parent = start_shards(settings, request, options.shards)
        return Started(parent_dir, parent, tuple(notes), rerun)
    env = Environment.isolated(settings) if options.isolated else Environment(settings)
    if not options.detach and not options.no_up:
        env.ensure_up()  # in the foreground, so its progress and failures show here
    run_dir, record = start_detached(env, request)
    return Started(run_dir, record, tuple(notes), rerun)


def run_tests(settings: Settings, options: TestOptions) -> int:
    """Start the run and follow it (or print its id); the exit code."""
    from envctl.runs.spawn import fork_allowed  # noqa: PLC0415

    with fork_allowed():  # a command line: its collector may be a fork of it
        started = start_run(settings, options)
    for note in started.notes:
        print(f"envctl: {note}", file=sys.stderr)
    if started.run_dir is None or started.record is None:
        if options.as_json:  # a caller reading stdout gets an answer: nothing was started
            from envctl.ui.views import not_started_view  # noqa: PLC0415

            print(json.dumps(not_started_view("; ".join(started.notes)), indent=2))
        return 0
    run_dir, record = started.run_dir, started.record
    if options.detach:
        from envctl.ui.views import commands, started_view  # noqa: PLC0415

        if options.as_json:
            print(json.dumps(started_view(run_dir, record, rerun=started.rerun), indent=2))
            return 0
        follow_with = commands(record.id)
        print(f"envctl: run {record.id} started; it goes on whatever happens to this shell.\n"
              f"  progress:  {follow_with['status']}  (or `envctl status --watch`)\n"
              f"  wait:      {follow_with['wait']}  (exits 25 while it goes on)\n"
              f"  output:    {follow_with['logs']}\n"
              f"  failures:  {follow_with['failures']}\n"
              f"  cancel:    {follow_with['stop']}", file=sys.stderr)
        print(record.id)
        return 0
    if options.shards is not None:
        from envctl.ui.render import final_summary  # noqa: PLC0415
        from envctl.ui.shards import follow_shards  # noqa: PLC0415

        ended = follow_shards(run_dir)
        print(final_summary(run_dir, ended), file=sys.stderr)
        return ended.exit_code
    from envctl.ui.follow import follow  # noqa: PLC0415

    return follow(run_dir)


def _failed_tests(settings: Settings, source: str, notes: list[str]) -> list[str]:
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
