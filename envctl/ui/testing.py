"""`envctl test` on a terminal: start the run (envctl/verbs/test.py), then print its id
(--detach) or follow it to its end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from envctl.settings import Settings
from envctl.verbs.test import Started, TestOptions, start_run

__all__ = ["Started", "TestOptions", "run_tests"]


def test_command(pytest_args: tuple[str, ...], *, detach: bool = False, no_up: bool = False,
                 as_json: bool = False, timeout: str | None = None, memory: str | None = None,
                 cpus: str | None = None, pids: str | None = None, shard: str | None = None,
                 isolated: bool = False, shards: int | None = None, engines: str | None = None,
                 retry_infra: bool = False, rerun_failed: str | None = None, resume: str | None = None,
                 force: bool = False, host: bool = False) -> int:
    """`envctl test` from its options, as the command line (cli.py) or the quick path
    (ui/quick.py) parsed them: the options checked, then the settings read, then the run."""
    from envctl.ui.cli_state import settings  # noqa: PLC0415
    from envctl.ui.pipes import outlive_readers  # noqa: PLC0415
    from envctl.verbs.test import check_options  # noqa: PLC0415

    options = TestOptions(pytest_args=pytest_args, detach=detach, no_up=no_up, shard=shard,
                          isolated=isolated, shards=shards, rerun_failed=rerun_failed, resume=resume,
                          force=force, host=host, cwd=str(Path.cwd()), as_json=as_json,
                          engines_given=engines is not None, retry_infra=retry_infra)
    check_options(options)  # before the settings are read: a usage error is the first answer
    outlive_readers()  # `envctl test | head`: the answer is still the run's (ui/pipes.py)
    return run_tests(settings(run_timeout=timeout, memory=memory, cpus=cpus, pids=pids, engines=engines),
                     options)


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
    if options.shards is not None or record.children:  # a --shards run, or its resume
        from envctl.ui.render import final_summary  # noqa: PLC0415
        from envctl.ui.shards import follow_shards  # noqa: PLC0415

        ended = follow_shards(run_dir)
        print(final_summary(run_dir, ended), file=sys.stderr)
        return ended.exit_code
    from envctl.ui.follow import follow  # noqa: PLC0415

    return follow(run_dir)
