"""The ``on_finish`` hook: a command of the user's settings, run on this machine once a run's end
is recorded, by whichever collector records it (one that took over included).

At most once per run. ``hook.json`` is created (O_CREAT | O_EXCL) before the command starts, so
no later collector starts it again, and is replaced by the outcome once it has ended. A collector
killed while its hook runs leaves the hook running on its own (its own session; it may die on a
write to its output, whose reader is gone) and a ``hook.json`` that says it started, with no
outcome. The hook runs before the run's container is removed and the record says `cleaned`, so a
collector killed before it leaves a run that `wait` takes over, and the next collector runs it.

Never a shard's: its --shards parent's hook is the whole run's. The command comes only from the
run's ``start.json`` (the starter's settings, in the host-only run directory; a parent's from its
first shard's), never from the container or a tool's arguments. Its result never changes the
run's: a failure is said in ``hook.json`` and collector.log.

It runs in the run directory (host-only: a folder the tests can write would put their files on
a Python hook's import path, or under a relative name the hook opens), with PATH's entries in the
project folder dropped (``hook_guard.hook_path``); ``hook_guard`` refused at the start a hook
whose program, files or PATH the test service can write.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from envctl.files import read_regular, write_private
from envctl.log import redact
from envctl.runs import hook_process
from envctl.runs.collector_log import say
from envctl.runs.hook_guard import hook_path
from envctl.runs.hook_outcome import HOOK_LOG, HookOutcome
from envctl.runs.state import RunRecord
from envctl.runs.store import HOOK_FILE, START_FILE
from envctl.settings import FIELDS_BY_NAME
from envctl.units import format_duration

SUMMARY_CAP = 300  # characters of ENVCTL_SUMMARY (a notification's line, a chat message)
START_CAP = 4 << 20  # bytes of a start.json read (a few KiB)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class HookSettings:
    """The hook as the run's starter configured it, and its project folder (None: gone), whose
    PATH entries it does not get."""

    argv: tuple[str, ...]
    timeout: float
    project: Path | None


def run_end_hook(run_dir: Path) -> HookOutcome | None:
    """The collector's step once a run's end is recorded: its hook, if it has one that no
    collector has started yet. Never raises: the run stands as recorded whatever the hook does."""
    try:
        record = RunRecord.load(run_dir)
        if not record.state.terminal or record.parent is not None:
            return None  # a shard's end is its parent's business
        hook = hook_settings(run_dir, record)
        if hook is None:
            return None
        outcome = run_hook(run_dir, record, hook.argv, hook.timeout, project=hook.project)
    except Exception as exc:  # a side effect of the run: it never changes its result
        say(f"collector {run_dir.name}: the on_finish hook was not run: {type(exc).__name__}: {exc}")
        return None
    problem = outcome.problem() if outcome is not None else None
    if problem is not None:
        say(f"collector {run_dir.name}: {problem}")
    return outcome


def run_hook(run_dir: Path, record: RunRecord, argv: Sequence[str], timeout: float, *,
             cwd: Path | None = None, environ: Mapping[str, str] | None = None,
             project: Path | None = None,
             escalation: tuple[tuple[signal.Signals, float], ...] = hook_process.ESCALATION,
             cap: int = hook_process.OUTPUT_CAP) -> HookOutcome | None:
    """Run ``argv`` for the ended run in ``cwd`` (default: the run's folder), unless it was
    started before (None then, and with no command). The environment is ``environ`` (default:
    this process's) with the run's variables, its PATH without ``project``'s folders."""
    if not argv or not record.state.terminal:
        return None
    started = HookOutcome(started_at=time.time())
    if not _claim(run_dir / HOOK_FILE, started):
        return None
    env = {**(os.environ if environ is None else environ), **hook_variables(run_dir, record)}
    if "PATH" in env:
        env["PATH"] = hook_path(env["PATH"], project)
    ended = hook_process.run_bounded(argv, env=env, cwd=cwd or run_dir, log_path=run_dir / HOOK_LOG,
                                     timeout=timeout, escalation=escalation, cap=cap)
    outcome = HookOutcome(started_at=started.started_at, finished=True,
                          error=None if ended.error is None else redact(ended.error),
                          **{k: v for k, v in asdict(ended).items() if k != "error"})
    with contextlib.suppress(OSError):  # a full disk: hook.json keeps saying it started
        write_private(run_dir / HOOK_FILE, json.dumps(asdict(outcome)))
    return outcome


def _claim(path: Path, started: HookOutcome) -> bool:
    """Create ``path`` saying the hook started; False when it exists (the hook was started)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(started)))
        handle.flush()
        os.fsync(handle.fileno())
    return True


def hook_variables(run_dir: Path, record: RunRecord) -> dict[str, str]:
    """What the hook is told of the run."""
    return {"ENVCTL_RUN_ID": record.id, "ENVCTL_RUN_STATE": record.state.value,
            "ENVCTL_EXIT_CODE": str(record.exit_code), "ENVCTL_RUN_DIR": str(run_dir.absolute()),
            "ENVCTL_SUMMARY": summary(record)}


# pytest's order ("1 failed, 2 passed, 1 skipped, 1 error"), then what reruns made flaky.
_COUNTED = (("failed", "failed"), ("passed", "passed"), ("skipped", "skipped"),
            ("xfailed", "xfailed"), ("xpassed", "xpassed"), ("errors", "error"), ("flaky", "flaky"))


def summary(record: RunRecord) -> str:
    """One line for a notification: ``run ID failed: 1 failed, 2 passed in 3m05s`` (with the
    record's message when envctl decided the state), secrets cut out, no control characters."""
    counts = record.counts
    numbers = ", ".join(f"{n} {word}{'s' if word == 'error' and n != 1 else ''}"
                        for key, word in _COUNTED if (n := getattr(counts, key)))
    text = f"run {record.id} {record.state.value}: {numbers or 'no tests ran'}"
    if record.duration is not None:
        text += f" in {format_duration(record.duration)}"
    if record.message and not record.state.from_pytest:
        text += f" - {record.message}"
    return _escaped(_CONTROL.sub(" ", redact(text)), SUMMARY_CAP)


# Chat markup (Slack's, Mattermost's): `<!channel>` pings, `<https://x|fix>` links. A test id
# or a message from the container must read as text, so these are escaped as Slack's own are.
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _escaped(text: str, cap: int) -> str:
    """``text`` with ``&``, ``<``, ``>`` escaped, at most ``cap`` characters (cut with `...`
    between two characters, never inside an escape)."""
    whole = "".join(_ESCAPES.get(char, char) for char in text)
    if len(whole) <= cap:
        return whole
    kept, size = [], 0
    for char in text:
        piece = _ESCAPES.get(char, char)
        if size + len(piece) > cap - 3:
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept) + "..."


def hook_settings(run_dir: Path, record: RunRecord) -> HookSettings | None:
    """The run's hook, from its starter's settings (None: none set, or none readable). A --shards
    parent's start.json holds no settings: its shards were started with the same ones."""
    data = _start_settings(run_dir)
    if data is None and record.children:
        data = _start_settings(run_dir.parent / record.children[0])
    if data is None or data.get("on_finish") is None:
        return None
    argv = FIELDS_BY_NAME["on_finish"].parse(data["on_finish"])
    timeout = data.get("on_finish_timeout")
    seconds = FIELDS_BY_NAME["on_finish_timeout"].parse(timeout) if timeout is not None \
        else FIELDS_BY_NAME["on_finish_timeout"].default
    if not isinstance(argv, tuple) or not argv or not isinstance(seconds, float):
        return None
    folder = data.get("project_dir")
    project = Path(folder).absolute() if isinstance(folder, str) and Path(folder).is_dir() else None
    if "/" in argv[0] and not Path(argv[0]).is_absolute() and project is not None:
        argv = (str(project / argv[0]), *argv[1:])  # `./ci/notify.sh`: the project's, as checked
    return HookSettings(argv, seconds, project)


def _start_settings(run_dir: Path) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(read_regular(run_dir / START_FILE, START_CAP))
        settings = data.get("settings") if isinstance(data, dict) else None
        return settings if isinstance(settings, dict) else None
    return None
