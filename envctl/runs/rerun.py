"""`envctl test --rerun-failed`: the failed and errored node ids of a run, from its record.

Node ids come from the test container (or a JUnit file from anywhere): each is checked before
it becomes a pytest argument, so none can be an option (``-p plugin``) or an argument file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from envctl.errors import EnvctlError, RunNotFoundError, UsageError
from envctl.report.junit import read_junit
from envctl.report.merge import merge
from envctl.runs.exchange import rerun_argument
from envctl.runs.ids import LATEST, RUN_ID_PATTERN
from envctl.runs.results import run_failures
from envctl.runs.state import RunRecord, RunState
from envctl.runs.store import START_FILE, RunStore
from envctl.settings import Settings

# pytest options that select tests: a rerun selects by node id, so these are not carried over.
SELECTING = {"-k", "-m", "--deselect", "--ignore", "--ignore-glob", "--lfnf", "--last-failed-no-failures"}
SELECTING_FLAGS = {"--lf", "--last-failed", "--ff", "--failed-first", "--sw", "--stepwise",
                   "--sw-skip", "--stepwise-skip", "--nf", "--new-first", "--co", "--collect-only",
                   "--collectonly", "--pdb", "--trace"}
# Options whose value is the next argument (pytest's own and common plugins'); an unknown
# `--option` takes the next argument as its value only when that cannot be a test path.
TAKES_VALUE = {
    "-k", "-m", "-p", "-o", "-c", "-n", "-W", "-r", "--maxfail", "--deselect", "--ignore",
    "--ignore-glob", "--lfnf", "--last-failed-no-failures", "--override-ini", "--junitxml",
    "--junit-xml", "--junit-prefix", "--rootdir", "--confcutdir", "--basetemp", "--import-mode",
    "--tb", "--durations", "--durations-min", "--capture", "--color", "--show-capture",
    "--log-level", "--log-cli-level", "--log-file", "--log-file-level", "--log-format",
    "--log-date-format", "--reruns", "--reruns-delay", "--only-rerun", "--rerun-except",
    "--timeout", "--timeout-method", "--dist", "--numprocesses", "--maxprocesses",
    "--max-worker-restart", "--cov", "--cov-report", "--cov-config", "--cov-fail-under",
    "--asyncio-mode", "--randomly-seed", "--count", "--config-file", "--inifile",
}


def _looks_like_a_test(arg: str) -> bool:
    return "::" in arg or "/" in arg or arg.endswith(".py") or arg in (".", "..")


def carried_options(args: Sequence[str], given: Sequence[str] = ()) -> list[str]:
    """The options of a run's pytest arguments, without what selected its tests (paths, node
    ids, -k, -m, --lf, --deselect...): what its failures are rerun with. A flag also ``given``
    now is left to the new arguments (`-q` twice would be pytest's `-qq`)."""
    kept: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":  # the rest are paths
            break
        if not arg.startswith("-") or arg == "-":
            i += 1
            continue
        name, has_inline, _value = arg.partition("=")
        short_inline = len(arg) > 2 and not arg.startswith("--") and arg[:2] in TAKES_VALUE
        if short_inline:  # -kexpr, -pplugin
            name = arg[:2]
        takes_next = not has_inline and not short_inline and i + 1 < len(args) and (
            name in TAKES_VALUE or (name.startswith("--") and name not in SELECTING_FLAGS
                                    and not args[i + 1].startswith("-")
                                    and not _looks_like_a_test(args[i + 1])))
        group = list(args[i:i + 2]) if takes_next else [arg]
        if name not in SELECTING and name not in SELECTING_FLAGS and not (len(group) == 1 and arg in given):
            kept += group
        i += len(group)
    return kept


def recorded_pytest_args(run_dir: Path) -> list[str]:
    """The pytest arguments a run was started with (its start record, written by envctl in the
    host-only run dir); none when it cannot be read."""
    try:
        data = json.loads((run_dir / START_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict):
        return []
    args = data.get("pytest_args", (data.get("request") or {}).get("pytest_args"))
    return [str(a) for a in args] if isinstance(args, list) else []


def _run_dir(settings: Settings, source: str) -> Path | None:
    """The run directory ``source`` names, when it names a run (not a JUnit file or a folder)."""
    if source == LATEST or RUN_ID_PATTERN.fullmatch(source):
        return RunStore(settings.resolved_log_dir).path(source)
    return None


def rerun_options(settings: Settings, source: str, given: Sequence[str] = ()) -> list[str]:
    """The options to rerun ``source``'s failures with: its run's, when it is a run."""
    run_dir = _run_dir(settings, source)
    if run_dir is None:
        return []  # a JUnit file or a merged report: no options recorded
    return carried_options(recorded_pytest_args(run_dir), given)


def ran_on_host(settings: Settings, source: str) -> bool:
    """Whether ``source`` is a `test --host` run: its failures are rerun on this machine too."""
    run_dir = _run_dir(settings, source)
    return run_dir is not None and RunRecord.load(run_dir).host


def failed_nodeids(settings: Settings, source: str) -> tuple[str, list[str], list[str]]:
    """(what was read, node ids to rerun, node ids refused) for a run id / 'latest', a
    directory or a JUnit file. Never from .pytest_cache: the record is the truth."""
    run_dir = _run_dir(settings, source)
    if run_dir is not None:
        record = RunRecord.load(run_dir)
        failures, _total = run_failures(run_dir, limit=100_000)
        if not failures and record.state in (RunState.FAILED, RunState.ERROR):
            raise EnvctlError(f"run {record.id} {record.state.value}, but no failed test can be read "
                              "from its results (JUnit or events)",
                              hint=f"see `envctl logs {record.id}`; {record.message}")
        label, nodeids = f"run {run_dir.name}", _unique(f.nodeid for f in failures)
    else:
        path = Path(source)
        if not path.exists():
            raise RunNotFoundError(f"{source}: not a run id, a directory or a JUnit file")
        results = read_junit(path) if path.is_file() else None
        if results is not None and not results.suites:
            why = f" ({results.problem})" if results.problem else ""
            raise UsageError(f"--rerun-failed {source}: not a JUnit XML report{why}",
                             hint="give a run id, a run directory or pytest's --junitxml file")
        label, nodeids = str(path), _unique(c.nodeid for c in merge([path]).failures)
    accepted = [n for n in nodeids if rerun_argument(n) is not None]
    return label, accepted, [n for n in nodeids if rerun_argument(n) is None]


def _unique(nodeids: object) -> list[str]:
    seen: dict[str, None] = {}
    for nodeid in nodeids:  # type: ignore[attr-defined]
        seen.setdefault(nodeid, None)
    return list(seen)
