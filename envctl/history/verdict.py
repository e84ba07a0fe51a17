"""What the history says of one run's results: each failure new since the last run of the same
command, old (it failed then too) or flaky over the history (it failed and passed at the same
code); and which of the run's tests are flaky so.

A pure function of a ``History`` and the run's outcomes: the run may already be recorded in it
(it is then left out of the comparison and its recorded column stands for it) or not yet (its
outcomes count as they are), so a report reads the same before and after the collector records.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from envctl.history.store import ABSENT, FAILED_LETTERS, OUTCOME_LETTERS, PASSED_LETTERS, History, Outcome

NEW, OLD, FLAKY = "new", "old", "flaky"
# How a mark reads in a summary, a failures list, an answer to an agent.
MARK_WORDS = {NEW: "new", OLD: "failed in the last run too", FLAKY: "flaky over the history"}
CODE_VARIABLES = ("ENVCTL_CODE", "GITHUB_SHA", "CI_COMMIT_SHA", "CIRCLE_SHA1", "BUILDKITE_COMMIT")


def code_key(environ: Mapping[str, str] | None = None) -> str:
    """Which code the tests ran at, where CI says so (empty: unknown, never counts as the same)."""
    env = os.environ if environ is None else environ
    return next((env[name][:64] for name in CODE_VARIABLES if env.get(name)), "")


def merged_run_id(run_ids: Iterable[str]) -> str:
    """The history's id for a merge of these runs: the same shards give the same id, so a merge
    run again (md, then json, then html) replaces its record instead of adding one."""
    digest = hashlib.sha256("\n".join(sorted(set(run_ids))).encode("utf-8")).hexdigest()
    return f"merge-{digest[:12]}"


@dataclass(frozen=True)
class Verdict:
    """The history's word on one run. ``previous``: the last run of the same command before it
    (None: none recorded, so nothing is new or old); ``runs``: the runs it was compared with."""

    runs: int = 0
    previous: str | None = None
    new: tuple[str, ...] = ()  # failing now, and passed or did not run in ``previous``
    flaky: tuple[str, ...] = ()  # of this run's tests: failed and passed at one code (sorted)
    marks: Mapping[str, str] = field(default_factory=dict)  # each failing test: NEW, OLD or FLAKY
    problem: str | None = None  # the history file was damaged, or the run not recorded

    def mark(self, nodeid: str) -> str | None:
        """NEW, OLD or FLAKY for a failing test of the run; None when the history cannot say."""
        return self.marks.get(nodeid)


def _letters(current: Iterable[Outcome]) -> dict[str, str]:
    """Each test's letter in the run; a test reported twice (a failed teardown after its call)
    counts as failed when either report failed."""
    letters: dict[str, str] = {}
    for case in current:
        letter = "r" if case.flaky and case.outcome == "passed" else OUTCOME_LETTERS.get(case.outcome, ABSENT)
        if letters.get(case.nodeid) not in FAILED_LETTERS:
            letters[case.nodeid] = letter
    return letters


def verdict(history: History, current: Iterable[Outcome], *, run_id: str, command: str, code: str,
            before: float | None = None) -> Verdict:
    """The history's word on the run ``run_id`` (its ``command`` key, the ``code`` it ran at) with
    ``current`` outcomes. ``before``: when the run ended, so a run no longer (or not yet) in the
    history is compared with the runs recorded before it only."""
    letters = _letters(current)
    here = next((i for i, run in enumerate(history.runs) if run.run_id == run_id), None)
    if here is not None:
        code = history.runs[here].code  # what was recorded for it stands
        earlier = list(range(here))
    else:
        earlier = [i for i, run in enumerate(history.runs) if not before or not run.at or run.at <= before]
    previous = next((i for i in reversed(earlier) if history.runs[i].command == command), None)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, run in enumerate(history.runs):
        if i != here and run.code:
            groups.setdefault((run.code, run.command), []).append(i)
    flaky = sorted(nodeid for nodeid, letter in letters.items()
                   if _flaky(history, nodeid, letter if code else ABSENT, groups, (code, command)))
    flaky_set = frozenset(flaky)
    new: list[str] = []
    marks: dict[str, str] = {}
    for nodeid, letter in letters.items():
        if letter not in FAILED_LETTERS:
            continue
        found = history.tests.get(nodeid)
        before_letter = found[0][previous] if previous is not None and found else ABSENT
        if previous is not None and before_letter not in FAILED_LETTERS:
            new.append(nodeid)
        if nodeid in flaky_set:
            marks[nodeid] = FLAKY
        elif previous is not None:
            marks[nodeid] = OLD if before_letter in FAILED_LETTERS else NEW
    return Verdict(runs=len(history.runs) - (here is not None),
                   previous=history.runs[previous].run_id if previous is not None else None,
                   new=tuple(new), flaky=tuple(flaky), marks=marks, problem=history.problem)


def _flaky(history: History, nodeid: str, letter: str, groups: Mapping[tuple[str, str], list[int]],
           own: tuple[str, str]) -> bool:
    """Whether the test failed and passed in runs of one code and command (this run's ``letter``
    counting in its own group)."""
    found = history.tests.get(nodeid)
    recorded = found[0] if found else ""
    every = {*recorded, letter}
    if not (every & FAILED_LETTERS and every & PASSED_LETTERS):
        return False  # never both anywhere (most tests): no group needs a look
    for key in {*groups, own} if letter != ABSENT else groups:
        seen = {recorded[i] for i in groups.get(key, ()) if i < len(recorded)}
        if key == own:
            seen.add(letter)
        if seen & FAILED_LETTERS and seen & PASSED_LETTERS:
            return True
    return False
