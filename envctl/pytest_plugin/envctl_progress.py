"""envctl's progress plugin, loaded in the test container through PYTEST_PLUGINS.

Stdlib only. It appends one JSON line per event to ``events.jsonl`` and rewrites a small
``progress.json`` snapshot at most a few times a second, so ``envctl status`` reads one small
file however long the run. It must never break a test run: every write error is swallowed and
the plugin then goes quiet.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from typing import Any

try:  # in the container this folder is on PYTHONPATH; in envctl's own tests it is a package
    from envctl_events import Progress as _Progress  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from envctl.pytest_plugin.envctl_events import Progress as _Progress

_DIR = os.environ.get("ENVCTL_PROGRESS_DIR", "")
# Under pytest-xdist the plugin loads in the controller and in every worker. Only the controller
# writes: it receives every worker's reports, so each test is counted once and one process owns
# events.jsonl, progress.json and junit.xml.
_WORKER = bool(os.environ.get("PYTEST_XDIST_WORKER"))
_RUNNING_CAP = 64  # tests shown as running now (one per worker)
_FLAKY_CAP = 50  # flaky tests named in progress.json (all are in the events)


# A pytest the tests start (pytester, a subprocess) sees our environment too: only the session
# envctl started records. A child process knows it by the owner's pid; a session run inside ours
# (pytester's inline runs) by a second configure while ours lasts.
_OWNER = os.environ.get("ENVCTL_PROGRESS_OWNER", "")
_NESTED_PROCESS = bool(_OWNER) and str(os.getpid()) != _OWNER and not _WORKER
if _DIR and not _WORKER and not _NESTED_PROCESS:
    os.environ["ENVCTL_PROGRESS_OWNER"] = str(os.getpid())
_progress = _Progress(_DIR) if _DIR and not _WORKER and not _NESTED_PROCESS and os.path.isdir(_DIR) else None
_configs: list[Any] = []  # sessions configured in this process, ours first


def _nested() -> bool:
    """Whether this hook call is a session's run inside ours (nothing to record)."""
    return len(_configs) > 1
_running: dict[str, None] = {}  # tests started and not torn down, oldest first
_junit: dict[str, Any] = {}


def pytest_configure(config: Any) -> None:
    """envctl's own JUnit report, beside any the user asked for (pytest keeps one --junitxml):
    xunit1, whose `file` attribute makes node ids exact whatever the files and classes are named.
    Written as the tests run (envctl_junit), not by pytest's junitxml, which costs 90 µs a test."""
    _configs.append(config)
    if _progress is None or _nested() or hasattr(config, "workerinput"):
        return
    with contextlib.suppress(Exception):  # the plugin must never break a run
        def ini(name: str, default: object) -> Any:
            try:
                return config.getini(name)
            except ValueError:  # `-p no:junitxml`: its settings are not registered
                return default

        xml = JUnitWriter(os.path.join(_DIR, "junit.xml"), suite_name=str(ini("junit_suite_name", "pytest")),
                          logging=str(ini("junit_logging", "no")),
                          log_passing_tests=bool(ini("junit_log_passing_tests", True)),
                          call_durations_only=ini("junit_duration_report", "total") == "call")
        config.pluginmanager.register(xml, "envctl-junitxml")
        _junit["xml"] = xml
    with contextlib.suppress(Exception):  # each test's memory growth (envctl_memory), on its own
        config.pluginmanager.register(MemoryWatch(_progress.emit), "envctl-memory")


def pytest_unconfigure(config: Any) -> None:
    owner = _configs[0] if _configs else None
    if config in _configs:
        _configs.remove(config)
    if _progress is None or owner is None or config is not owner:  # a nested session's end is not ours
        return
    _progress.flush_events()
    xml = _junit.pop("xml", None)
    if xml is not None:
        with contextlib.suppress(Exception):
            config.pluginmanager.unregister(xml)


try:  # in the container this folder is on PYTHONPATH; in envctl's own tests it is a package
    from envctl_junit import JUnitWriter  # type: ignore[import-not-found,unused-ignore]
    from envctl_memory import MemoryWatch  # type: ignore[import-not-found,unused-ignore]
    from envctl_reports import TAIL_LINES as _TAIL_LINES  # type: ignore[import-not-found,unused-ignore]
    from envctl_reports import TAIL_WIDTH as _TAIL_WIDTH  # type: ignore[import-not-found,unused-ignore]
    from envctl_reports import outcome_of as _outcome  # type: ignore[import-not-found,unused-ignore]
    from envctl_reports import traceback_tail as _traceback_tail  # type: ignore[import-not-found,unused-ignore]
    from envctl_reports import worker_of as _worker  # type: ignore[import-not-found,unused-ignore]
    from envctl_select import collected_lines, select, selection_path  # type: ignore[import-not-found,unused-ignore]
    from envctl_shards import SHARD_TESTS, parse_shard, split, split_properties  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from envctl.pytest_plugin.envctl_junit import JUnitWriter
    from envctl.pytest_plugin.envctl_memory import MemoryWatch
    from envctl.pytest_plugin.envctl_reports import TAIL_LINES as _TAIL_LINES
    from envctl.pytest_plugin.envctl_reports import TAIL_WIDTH as _TAIL_WIDTH
    from envctl.pytest_plugin.envctl_reports import outcome_of as _outcome
    from envctl.pytest_plugin.envctl_reports import traceback_tail as _traceback_tail
    from envctl.pytest_plugin.envctl_reports import worker_of as _worker
    from envctl.pytest_plugin.envctl_select import collected_lines, select, selection_path
    from envctl.pytest_plugin.envctl_shards import SHARD_TESTS, parse_shard, split, split_properties

try:
    import pytest as _pytest_module

    _optional = _pytest_module.hookimpl(optionalhook=True)
    _last = _pytest_module.hookimpl(trylast=True)
except Exception:  # never break a run: without pytest's markers, no xdist hooks and no order
    def _optional(function: Any) -> Any:
        return function

    _last = _optional

_SHARD = os.environ.get("ENVCTL_SHARD", "")
_SELECT = selection_path()  # a resume: the tests its first run did not finish (envctl_select)
_shard: dict[str, Any] = {"empty": False}
_SPLIT_OUTPUT = "envctl_split"  # an xdist worker's split properties, in its workeroutput


@_last
def pytest_collection_modifyitems(session, config, items):  # type: ignore[no-untyped-def]
    """With ENVCTL_SHARD=K/N, keep only shard K's tests (the same split on every runner). Last
    of the plugins: what is split is what `-k`, `-m` and `--deselect` left, so the split balances
    the tests that run and each shard's report can say how many were split. A resume
    (ENVCTL_SELECT) keeps exactly the tests left instead, never split again."""
    if _SELECT and not (_NESTED_PROCESS or _nested()):
        items[:] = select(config, items, _SELECT)
        return
    if not _SHARD or _NESTED_PROCESS or _nested():
        return
    k, n = parse_shard(_SHARD)
    durations = {}
    path = os.environ.get("ENVCTL_DURATIONS", "")
    if path and os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as handle:
                durations = {str(k_): float(v) for k_, v in json.load(handle).items()}
        except (OSError, ValueError, AttributeError):
            durations = {}
    nodeids = [item.nodeid for item in items]
    keep = set(split(nodeids, n, durations)[k - 1])
    selected = [item for item in items if item.nodeid in keep]
    deselected = [item for item in items if item.nodeid not in keep]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = selected
    _shard["empty"] = not selected
    with contextlib.suppress(Exception):  # the plugin must never break a run
        _split_made(config, split_properties(nodeids, k, n, durations))


def _split_made(config: Any, properties: dict[str, str]) -> None:
    """What the split was computed from goes into the JUnit report's suite properties, which
    `report merge` compares across shards. Under xdist each worker splits (the controller
    collects nothing) and hands them to the controller, which writes the report."""
    workeroutput = getattr(config, "workeroutput", None)
    if isinstance(workeroutput, dict):
        workeroutput[_SPLIT_OUTPUT] = properties
    xml = _junit.get("xml")
    if xml is not None:
        for name, value in properties.items():  # the first worker's, as for the total
            xml.properties.setdefault(name, value)


def pytest_sessionstart(session: Any) -> None:
    """Where pytest's node ids are rooted: annotations map test paths back to the repository
    through it (it is not always the container's working directory)."""
    if _progress is None or _nested():
        return
    with contextlib.suppress(Exception):  # the plugin must never break a run
        _progress.emit("session", flush=True, path=str(session.config.rootpath))


def pytest_collection_finish(session):  # type: ignore[no-untyped-def]
    if _progress is None or _nested():
        return
    _collected([item.nodeid for item in session.items])


def _collected(ids: list[str]) -> None:
    if _progress is None or _nested() or _progress.state["total"] is not None:
        return
    total = len(ids)
    if _SHARD:  # what this shard was to run, once every plugin has selected (`--lf` selects last)
        with contextlib.suppress(Exception):  # the plugin must never break a run
            _split_made(None, {SHARD_TESTS: str(total)})
    _progress.state["total"] = total + _progress.collectors
    _progress.emit("collected", flush=True, total=total)
    with contextlib.suppress(Exception):  # the ids, for a resume to know what never started
        for chunk in collected_lines(ids):
            _progress.emit("tests", ids=chunk)
    _progress.snapshot(force=True)


def pytest_deselected(items: Any) -> None:
    """pytest's "deselected": `-k`, `-m`, `--deselect`, and the other shards' tests."""
    if _progress is None or _nested():
        return
    with contextlib.suppress(Exception):  # the plugin must never break a run
        _progress.state["deselected"] += len(items)


@_optional
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """xdist's controller collects nothing itself: the total is what its first worker collected."""
    with contextlib.suppress(Exception):  # the plugin must never break a run
        _collected(list(ids))


@_optional
def pytest_testnodedown(node: Any, error: object) -> None:
    """A worker that ended: its split (the first worker's is the shard's); one that died (e.g.
    OOM-killed), named, with the tests it was running."""
    if _progress is None or _nested():
        return
    with contextlib.suppress(Exception):  # the plugin must never break a run
        properties = getattr(node, "workeroutput", {}).get(_SPLIT_OUTPUT)
        if isinstance(properties, dict):
            _split_made(None, {str(key): str(value) for key, value in properties.items()})
    if not error:
        return
    with contextlib.suppress(Exception):  # the plugin must never break a run
        worker = str(getattr(getattr(node, "gateway", None), "id", "?"))
        _progress.emit("worker-down", flush=True, worker=worker, message=str(error)[-500:])


@_optional
def pytest_handlecrashitem(crashitem: str, report: Any, sched: Any) -> None:
    if _progress is None or _nested():
        return
    with contextlib.suppress(Exception):  # the plugin must never break a run
        _progress.emit("crash", flush=True, nodeid=str(crashitem), message=str(report.longrepr)[-500:])


_COUNTED = {"passed": "passed", "failed": "failed", "skipped": "skipped", "error": "errors",
            "xfailed": "xfailed", "xpassed": "xpassed"}


def pytest_runtest_logstart(nodeid: str, location: object) -> None:
    if _progress is None or len(_configs) > 1:  # _nested(), inline: this runs for every test
        return
    # Not contextlib.suppress in the hooks every test calls: it costs as much as the hook's work.
    try:
        _running[nodeid] = None
        _progress.state["current"] = nodeid
        _progress.state["running"] = list(_running)[-_RUNNING_CAP:]
        # At once: a test that takes the container down (OOM) is named by its start event.
        if type(nodeid) is str:
            _progress.emit_start(nodeid)
        else:
            _progress.emit("start", flush=True, nodeid=nodeid)
        _progress.snapshot()
    except Exception:  # noqa: S110  # the plugin must never break a run
        pass


def pytest_runtest_logreport(report: Any) -> None:
    """Count and record a test's report. Whatever a plugin makes of a report (pytest-rerunfailures'
    `rerun`, an outcome of its own, a missing attribute), the run goes on: an outcome that is not
    pytest's own is recorded in the events but not counted."""
    if _progress is None or len(_configs) > 1:  # _nested(), inline: this runs thrice a test
        return
    try:  # noqa: SIM105  # not contextlib.suppress: see pytest_runtest_logstart
        _logreport(report)
    except Exception:  # noqa: S110  # the plugin must never break a run
        pass


def pytest_collectreport(report: Any) -> None:
    """A collector's own result, as pytest counts it: a file that cannot be collected (exit 2)
    is an error named after the file, with the cause; a module skipped at import
    (`pytest.skip(allow_module_level=True)`, `pytest.importorskip`) is one skipped."""
    if _progress is None or _nested() or getattr(report, "passed", True):
        return
    with contextlib.suppress(Exception):  # the plugin must never break a run
        _collector(report)


def _collector(report: Any) -> None:
    progress: Any = _progress  # not None: checked by the caller
    longrepr = report.longrepr
    fields: dict[str, object]
    if report.skipped:
        # pytest's skip is (file, line, "Skipped: reason"); say the reason.
        reason = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        outcome, key, fields = "skipped", "skipped", {"message": reason.removeprefix("Skipped: ")[:500]}
    else:
        text = str(longrepr)
        lines = [line for line in text.splitlines() if line.strip()]
        outcome, key, fields = "error", "errors", {
            "message": (lines[-1] if lines else text)[:500], "path": None, "line": None,
            "tail": [line[:_TAIL_WIDTH] for line in lines[-_TAIL_LINES:]]}
    state = progress.state
    state[key] += 1
    state["done"] += 1
    if state["total"] is None:
        progress.collectors += 1  # added to the total once collection ends
    else:
        state["total"] += 1
    progress.emit("result", flush=True, nodeid=str(report.nodeid), outcome=outcome, when="collect",
                  duration=0.0, **fields)
    progress.snapshot(force=True)


def _logreport(report: Any) -> None:
    state = _progress.state  # type: ignore[union-attr]
    if report.when not in ("setup", "call") and str(report.nodeid) in _running:  # torn down, or crashed
        del _running[str(report.nodeid)]
        state["running"] = list(_running)[-_RUNNING_CAP:]
        state["current"] = next(reversed(_running), None)
    outcome = _outcome(report)
    if outcome is None:
        return
    key = _COUNTED.get(outcome)
    if key is None:
        if outcome == "rerun":
            _progress.rerun.add(str(report.nodeid))  # type: ignore[union-attr]
        _progress.emit("report", nodeid=str(report.nodeid), outcome=str(outcome)[:50],  # type: ignore[union-attr]
                       when=str(report.when))
        return
    message = path = line = None
    tail: list[str] = []
    if outcome in ("failed", "error"):
        crash = getattr(report.longrepr, "reprcrash", None)
        message = getattr(crash, "message", None) or str(report.longrepr)[-500:]
        path = getattr(crash, "path", None)
        line = getattr(crash, "lineno", None)
        tail = _traceback_tail(report.longrepr)
    duration = round(float(report.duration or 0), 4)
    worker = _worker(report)
    # Counted only once everything about the report was read: an odd one changes nothing.
    state[key] += 1
    flaky = outcome == "passed" and report.nodeid in _progress.rerun  # type: ignore[union-attr]
    if flaky:
        state["flaky"] += 1
        if len(state["flaky_tests"]) < _FLAKY_CAP:
            state["flaky_tests"].append(str(report.nodeid))
    if report.when != "teardown":
        state["done"] += 1
    nodeid, when = report.nodeid, report.when
    if (message is None and not tail and not flaky and type(nodeid) is str and type(when) is str
            and type(duration) is float and math.isfinite(duration)):  # nearly every test: no json.dumps
        _progress.emit_result(nodeid, outcome, when, duration, worker)  # type: ignore[union-attr]
        _progress.snapshot()  # type: ignore[union-attr]
        return
    _progress.emit("result", flush=outcome in ("failed", "error"), nodeid=report.nodeid,  # type: ignore[union-attr]
                   outcome=outcome, when=report.when, duration=duration,
                   **({"message": message, "path": path, "line": line} if message is not None else {}),
                   **({"tail": tail} if tail else {}), **({"flaky": True} if flaky else {}),
                   **({"worker": worker} if worker else {}))
    _progress.snapshot(force=outcome in ("failed", "error"))  # type: ignore[union-attr]


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    if _shard["empty"] and exitstatus == 5 and not _nested():
        session.exitstatus = 0  # an empty shard is fine, not "no tests collected"
        exitstatus = 0
    if _progress is None or _nested():
        return
    _progress.state["exitstatus"] = int(exitstatus)
    _progress.state["current"] = None
    _progress.state["running"] = []
    _progress.emit("finish", flush=True, exitstatus=int(exitstatus))
    _progress.snapshot(force=True)
