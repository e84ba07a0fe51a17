"""A run's clean-up, once its record is final: its test container, an isolated run's project
and its exchange folder go, and then the record says so (removed last, so a collector that dies
before it finds everything still there). What a non-root test container left in the exchange
folder, which the host user cannot remove, is purged through the engine (``leftovers``); if
even that fails, rotation tries again once the run is gone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from envctl.errors import EnvctlError
from envctl.runs import exchange, lifecycle
from envctl.runs.collector_log import say
from envctl.runs.state import RunRecord


def clean_up(run_dir: Path, record: RunRecord, *, meanwhile: Callable[[], None] = lambda: None) -> None:
    """Once the record is final: remove the test container (the --rm of `compose run --rm`) and
    an isolated run's project, remove the exchange folder, then say so in the record.

    ``meanwhile`` (the history) is done while the engine removes them, and always before the
    record says `cleaned`: a collector killed before that leaves the run to be taken over, and
    the next one does both again (each once)."""
    beside_removal = record.state.terminal and not record.cleaned and not record.host and \
        (record.container is not None or record.isolated)
    if not beside_removal:
        meanwhile()  # nothing of the engine's to wait for (a host run's clean-up is on this machine)
    if not record.state.terminal or record.cleaned:
        return
    if record.host:
        from envctl.runs.host_run import clean_host  # noqa: PLC0415

        clean_host(run_dir, record)
    if record.container is not None or record.isolated:
        failed: list[BaseException] = []
        removing = threading.Thread(target=_remove_from_engine, args=(record, failed), daemon=True,
                                    name="remove-test-container")
        removing.start()
        try:
            if beside_removal:
                meanwhile()
        finally:
            removing.join()  # bounded: every engine call has its deadline
        if failed:
            if not isinstance(failed[0], EnvctlError):
                raise failed[0]  # a bug: the collector's boundary says it, and the run stays uncleaned
            say(f"collector {run_dir.name}: could not clean up: {failed[0]}")
            return
    if not exchange.remove_box(run_dir):
        _purge_box(run_dir)
    lifecycle.mark_cleaned(run_dir)


def _remove_from_engine(record: RunRecord, failed: list[BaseException]) -> None:
    from envctl.docker import labels, timeouts  # noqa: PLC0415
    from envctl.docker.engine import Engine  # noqa: PLC0415

    try:
        with Engine(timeout=timeouts.CALL, host=record.engine) as engine:
            if record.container is not None:
                engine.remove(record.container)
                # One a killed starter's `compose run` created after the run was recorded.
                engine.remove_labelled(f"{labels.RUN}={record.id}",
                                       f"{labels.ROLE}={labels.TEST_RUN_ROLE}")
            if record.isolated:
                # Everything of it carries the project and isolated labels, so it goes through
                # the API by label (~50 ms): a throwaway project needs no graceful stop.
                engine.remove_labelled(f"{labels.PROJECT}={record.project}", f"{labels.ISOLATED}=true")
    except BaseException as exc:  # handed to the caller's thread, which decides
        failed.append(exc)


def _purge_box(run_dir: Path) -> None:
    """The exchange folder through a helper container (the container is gone, so nothing
    writes there any more); what stays is said, and left to rotation."""
    from envctl.runs import leftovers  # noqa: PLC0415  # lazy: only when something is left

    try:
        gone = leftovers.purge_run_box(run_dir)
    except (EnvctlError, OSError) as exc:
        say(f"collector {run_dir.name}: could not purge its exchange folder: {exc}")
        return
    if not gone:
        say(f"collector {run_dir.name}: its exchange folder holds what the host user cannot remove "
            f"({exchange.box(run_dir)}); rotation tries again once the run is gone")
