"""`envctl test --resume RUN`: the plan of a run of exactly the tests a run that ended before them
did not finish (never started, or running when it ended), with the first run's options; its
one result is joined at its end (runs/resumed_result.py). A --shards run is resumed shard by
shard: each shard cut short resumes its own remainder, under a new parent that also holds the
shards that ended by themselves (runs/resume_shards.py starts it).

A run can be resumed when it ended before its tests did: cancelled, timed-out, oom-killed,
lost, infra-error or env-broken. One that ended by itself (passed, failed, error, no-tests) has
nothing to resume (NothingToResumeError), nor has one whose every collected test finished. A
resume is refused (ResumeRefusedError) when the first run's fingerprint (runs/fingerprint.py)
differs from now, unless forced, and when which of its tests finished cannot be known: it ran
without envctl's plugin, or its events do not list what it collected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envctl.errors import NothingToResumeError, ResumeRefusedError, RunActiveError
from envctl.runs import fingerprint
from envctl.runs.launch import RunRequest, environment_from_file
from envctl.runs.remainder import Remainder, read_seen, remainder_of, write_selection
from envctl.runs.resumed_result import prepare
from envctl.runs.shards import children_of
from envctl.runs.state import RunRecord, RunState
from envctl.runs.store import RunStore
from envctl.settings import Settings

if TYPE_CHECKING:
    from envctl.env.environment import Environment

RESUMABLE = frozenset({RunState.CANCELLED, RunState.TIMED_OUT, RunState.OOM_KILLED, RunState.LOST,
                       RunState.INFRA_ERROR, RunState.ENV_BROKEN})
# The settings a flag given with --resume overrides, and the request's field each sets.
OVERRIDES = {"run_timeout": "timeout", "memory": "memory", "cpus": "cpus", "pids": "pids"}
# pytest options that select from what its cache says of the runs before (the first run changed
# it): a resume would lose the tests they leave out. The selection is the resume's own.
FROM_THE_CACHE = {"--lf", "--last-failed", "--sw", "--stepwise", "--sw-skip", "--stepwise-skip"}
FROM_THE_CACHE_WITH_VALUE = {"--lfnf", "--last-failed-no-failures"}


@dataclass(frozen=True)
class Plan:
    """What a resume starts: in which environment, with which request, which tests."""

    first_dir: Path
    first: RunRecord
    env: Environment
    request: RunRequest
    remainder: Remainder | None  # None: the first run never collected, so every test runs
    notes: tuple[str, ...]

    def setup(self, run_dir: Path) -> None:
        """Into the new run's directory before its collector starts: the tests to run (for the
        container) and the first run's results (for the end)."""
        if self.remainder is not None:
            write_selection(run_dir, self.remainder.nodeids)
        prepare(run_dir, self.first_dir, self.first)


@dataclass(frozen=True)
class ShardsPlan:
    """A --shards run's resume: per shard, in order, its resume or the shard as it ended."""

    first_dir: Path
    first: RunRecord
    shards: tuple[Plan | RunRecord, ...]
    notes: tuple[str, ...]


def plan(settings: Settings, source: str, *, force: bool = False, pytest_args: tuple[str, ...] = (),
         no_up: bool = False) -> Plan | ShardsPlan:
    """The resume of run ``source`` (an id or 'latest'); the settings are the caller's, whose
    flags (--timeout, --memory, --cpus, --pids) override the first run's."""
    first_dir = RunStore(settings.resolved_log_dir).path(source)
    first = RunRecord.load(first_dir)
    _check_resumable(first)
    if first.children:
        return _plan_shards(settings, first_dir, first, force=force, pytest_args=pytest_args, no_up=no_up)
    remainder, notes = _remainder(first_dir, first)
    if remainder is not None and not remainder.nodeids:
        raise NothingToResumeError(
            f"every test run {first.id} collected finished ({remainder.finished} of "
            f"{remainder.collected}); nothing to resume", hint=f"`envctl report {first.id}`")
    return _plan_run(settings, first_dir, first, remainder, notes, force=force, pytest_args=pytest_args,
                     no_up=no_up)


def _plan_shards(settings: Settings, parent_dir: Path, parent: RunRecord, *, force: bool,
                 pytest_args: tuple[str, ...], no_up: bool) -> ShardsPlan:
    """Each shard cut short resumes its remainder (an empty one too: it then runs nothing, and
    counts as a shard with no tests); a shard that ended by itself is kept as it ended."""
    taken: dict[str, dict[str, Any]] = {}

    def once(env: Environment) -> dict[str, Any]:  # the shards share code and images: one look
        return taken.setdefault("now", fingerprint.current(env))

    shards: list[Plan | RunRecord] = []
    notes: list[str] = []
    for child_dir, child in children_of(parent, parent_dir.parent):
        if child.state not in RESUMABLE:
            shards.append(child)
            continue
        _check_resumable(child)
        remainder, said = _remainder(child_dir, child)
        shard = _plan_run(settings, child_dir, child, remainder, said, force=force, pytest_args=pytest_args,
                          no_up=no_up, current=once)
        shards.append(shard)
        notes += [f"shard {child.shard}: {note}" for note in shard.notes]
    if not any(isinstance(shard, Plan) for shard in shards):
        raise NothingToResumeError(f"every shard of run {parent.id} ended by itself; nothing to resume",
                                   hint=f"`envctl report {parent.id}`")
    return ShardsPlan(parent_dir, parent, tuple(shards), tuple(notes))


def _plan_run(settings: Settings, first_dir: Path, first: RunRecord, remainder: Remainder | None,
              notes: list[str], *, force: bool, pytest_args: tuple[str, ...], no_up: bool,
              current: Callable[[Environment], dict[str, Any]] | None = None) -> Plan:
    env, request = environment_from_file(first_dir)
    if env.isolated_for is not None:  # a throwaway project of its own again (an isolated run, a shard)
        from envctl.env.environment import Environment  # noqa: PLC0415

        env = Environment.isolated(env.settings)
    now = (current or fingerprint.current)(env)
    changed = fingerprint.differences(fingerprint.load(first_dir), now)
    if changed and not force:
        raise ResumeRefusedError(f"run {first.id} ran other code or another environment than now: "
                                 f"{'; '.join(changed)}",
                                 hint="resume anyway with --force (the results are joined as one run "
                                      "all the same), or run the suite again")
    if changed:
        notes.append(f"resuming despite: {'; '.join(changed)}")
    given = {field: getattr(settings, name) for name, field in OVERRIDES.items()
             if settings.sources.get(name, "").startswith("flag")}
    request = dataclasses.replace(request, **given, resumes=first.id, parent=None,
                                  pytest_args=(*without_the_cache(request.pytest_args), *pytest_args),
                                  no_up=request.no_up or no_up)
    return Plan(first_dir, first, env, request, remainder, tuple(notes))


def without_the_cache(args: tuple[str, ...]) -> tuple[str, ...]:
    """The first run's pytest arguments but those that select by pytest's cache (``--lf``,
    ``--sw``...): paths, ``-k``, ``-m`` and the rest select what they selected then."""
    kept: list[str] = []
    skip_value = paths = False
    for arg in args:
        if skip_value:
            skip_value = False
            continue
        if paths or arg == "--":  # from `--` on: paths
            paths = True
            kept.append(arg)
            continue
        name = arg.split("=", 1)[0]
        if name in FROM_THE_CACHE:
            continue
        if name in FROM_THE_CACHE_WITH_VALUE:
            skip_value = "=" not in arg
            continue
        kept.append(arg)
    return tuple(kept)


def _check_resumable(first: RunRecord) -> None:
    if not first.state.terminal:
        raise RunActiveError(f"run {first.id} is still {first.state.value}: only a run that ended can "
                             "be resumed", hint=f"`envctl wait {first.id}`, or `envctl stop {first.id}`")
    if first.state not in RESUMABLE:
        code = f" (pytest exited {first.pytest_exit})" if first.pytest_exit is not None else ""
        raise NothingToResumeError(
            f"run {first.id} {first.state.value}: it ended by itself{code}, so every test it "
            "collected ran; nothing to resume",
            hint=f"`envctl test --rerun-failed {first.id}` runs its failed tests again")
    if not first.injected:
        raise ResumeRefusedError(
            f"run {first.id} ran without envctl's plugin (a remote engine), so which of its tests "
            "finished is not known", hint="run the suite again")


def _remainder(first_dir: Path, first: RunRecord) -> tuple[Remainder | None, list[str]]:
    """The tests left (None: all of them, the first run collected none), and what to say."""
    seen = read_seen(first_dir)
    if not seen.segments and not seen.finished:
        return None, [f"run {first.id} ended before it collected its tests: running all of them"]
    if not seen.listed:
        raise ResumeRefusedError(
            f"run {first.id}'s events do not list every test it collected (a run from an envctl "
            "before --resume, or events cut short), so which tests never started is not known",
            hint="run the suite again")
    remainder = remainder_of(seen)
    notes = []
    if remainder.refused:
        notes.append(f"not resuming {len(remainder.refused)} test(s) whose ids cannot name a test exactly "
                     f"(control characters, options, too long): "
                     f"{', '.join(repr(n[:80]) for n in remainder.refused[:5])}")
    notes.append(f"resuming run {first.id}: {len(remainder.nodeids)} test(s) left of {remainder.collected} "
                 f"({remainder.running} running when it ended, {remainder.never_started} never started)")
    return remainder, notes
