"""`envctl test` on a terminal: start the run (envctl/verbs/test.py), then print its id
(--detach) or follow it to its end."""

from __future__ import annotations

import json
import sys

from envctl.settings import Settings
from envctl.verbs.test import Started, TestOptions, start_run

__all__ = ["Started", "TestOptions", "run_tests"]


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
