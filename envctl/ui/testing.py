"""`envctl test`: what to run (a rerun of failures, a shard, N shards), start it, and either
return its id (--detach) or follow it to its end."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import sys
from dataclasses import dataclass

from envctl.errors import UsageError
from envctl.runs.launch import RunRequest, start_detached
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


def run_tests(settings: Settings, options: TestOptions) -> int:
    """Start the run and follow it (or print its id); the exit code."""
    from envctl.api import Environment  # noqa: PLC0415

    args = options.pytest_args
    if options.shard is not None:
        from envctl.ci_shard import resolve_shard  # noqa: PLC0415
        from envctl.pytest_plugin.envctl_shards import parse_shard  # noqa: PLC0415

        options = dataclasses.replace(options, shard=resolve_shard(options.shard, os.environ))
        try:
            parse_shard(str(options.shard))
        except ValueError as exc:
            raise UsageError(f"--shard: {exc}") from None
    if options.rerun_failed is not None:
        rerun = _failed_tests(settings, options.rerun_failed)
        if rerun is None:
            return 0
        args = (*args, *rerun)
    request = RunRequest(pytest_args=args, timeout=settings.run_timeout, memory=settings.memory,
                         cpus=settings.cpus, pids=settings.pids, no_up=options.no_up, shard=options.shard)
    if options.shards is not None:
        return _test_shards(settings, request, options.shards, options.detach)
    if options.isolated:
        token = secrets.token_hex(3)
        env = Environment(settings, project=f"{settings.resolved_project_name}-iso-{token}",
                          isolated_for=token)
    else:
        env = Environment(settings)
    if not options.detach and not options.no_up:
        env.ensure_up()  # in the foreground, so its progress and failures show here
    run_dir, record = start_detached(env, request)
    if options.detach:
        if options.as_json:
            print(json.dumps({"id": record.id, "log": str(run_dir / "output.log"), "dir": str(run_dir),
                              "container": record.container}, indent=2))
        else:
            print(f"envctl: run {record.id} started; follow it with `envctl status --watch`",
                  file=sys.stderr)
            print(record.id)
        return 0
    from envctl.ui.follow import follow  # noqa: PLC0415

    return follow(run_dir)


def _failed_tests(settings: Settings, source: str) -> list[str] | None:
    """The failed tests of ``source`` to run again; None when there is nothing to rerun."""
    from envctl.runs.rerun import failed_nodeids  # noqa: PLC0415

    label, nodeids, refused = failed_nodeids(settings, source)
    if refused:
        print(f"envctl: not rerunning {len(refused)} test id(s) that cannot be pytest arguments "
              f"(options, argument files, control characters): "
              f"{', '.join(repr(n[:80]) for n in refused[:5])}", file=sys.stderr)
    if not nodeids:
        print(f"envctl: nothing failed in {label}; nothing to rerun", file=sys.stderr)
        return None
    print(f"envctl: rerunning {len(nodeids)} failed test(s) of {label}", file=sys.stderr)
    return nodeids


def _test_shards(settings: Settings, request: RunRequest, shards: int, detach: bool) -> int:
    from envctl.runs.shards import start_shards  # noqa: PLC0415
    from envctl.ui.render import final_summary  # noqa: PLC0415
    from envctl.ui.shards import follow_shards  # noqa: PLC0415

    if shards < 1 or request.shard:
        raise UsageError("--shards takes a number >= 1, and does not combine with --shard")
    parent_dir, parent = start_shards(settings, request, shards)
    if detach:
        print(parent.id)
        return 0
    record = follow_shards(parent_dir)
    print(final_summary(parent_dir, record), file=sys.stderr)
    return record.exit_code
