"""A run's clean-up: only once the record is final, by label for an isolated project, its
exchange folder removed (through a helper when the host cannot), and a failure leaves the run
uncleaned for the next collector (fake engine)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from envctl.docker import engine as engine_module
from envctl.docker import labels
from envctl.errors import EnvctlError
from envctl.runs import exchange, leftovers, lifecycle
from envctl.runs.cleanup import clean_up
from envctl.runs.outcome import EndFacts
from envctl.runs.state import Limits, RunRecord
from tests.unit.fake_engine import FakeEngine

RUN_ID = "20260101-000000-abcd"


class _Labelled(FakeEngine):
    """Records what was removed by label."""

    labelled: list[tuple[str, ...]] = []  # noqa: RUF012

    def remove_labelled(self, *filters: str) -> dict[str, int]:
        _Labelled.labelled.append(filters)
        return {"containers": 1, "networks": 0, "volumes": 0}


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated run with a container, on a fake engine."""
    monkeypatch.setattr(engine_module, "Engine", _Labelled)
    FakeEngine.reset([])
    _Labelled.labelled = []
    path = tmp_path / RUN_ID
    path.mkdir(mode=0o700)
    exchange.create_dirs(path)
    lifecycle.create(path, RunRecord(id=RUN_ID, project="p-iso", service="test", command=["pytest"],
                                     limits=Limits(1, 1.0, 1), container="c", isolated=True))
    return path


def test_a_run_not_yet_ended_is_not_cleaned(run_dir: Path) -> None:
    """Before the end is recorded, nothing is removed: the next collector needs the container."""
    clean_up(run_dir, RunRecord.load(run_dir))
    assert (FakeEngine.removed, _Labelled.labelled, RunRecord.load(run_dir).cleaned) == ([], [], False)


def test_an_ended_isolated_run_loses_its_container_and_project(run_dir: Path) -> None:
    """The container, a late one-off of the run, and the isolated project by label; then `cleaned`."""
    (exchange.box(run_dir) / "left-by-the-tests").write_text("x")
    record = lifecycle.finish(run_dir, EndFacts(exit_code=0))
    clean_up(run_dir, record)
    assert FakeEngine.removed == ["c"]
    assert _Labelled.labelled == [(f"{labels.RUN}={RUN_ID}", f"{labels.ROLE}=test-run"),
                                  (f"{labels.PROJECT}=p-iso", f"{labels.ISOLATED}=true")]
    assert RunRecord.load(run_dir).cleaned is True
    assert not exchange.box(run_dir).exists()


def test_a_failed_clean_up_is_said_and_left_for_later(run_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The engine refuses: a line in collector.log, and the record is not marked cleaned."""
    def broken(_self: FakeEngine, _name: str) -> None:
        raise EnvctlError("engine gone")

    monkeypatch.setattr(FakeEngine, "remove", broken)
    record = lifecycle.finish(run_dir, EndFacts(exit_code=0))
    clean_up(run_dir, record)
    assert capsys.readouterr().err == f"collector {RUN_ID}: could not clean up: engine gone\n"
    assert RunRecord.load(run_dir).cleaned is False


@pytest.fixture
def stuck(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What a non-root test container left in the run's exchange folder, which the host user
    cannot remove (faked: unit tests run as root)."""
    (exchange.box(run_dir) / "cache" / "deep").mkdir(parents=True)

    def refused(path: str) -> None:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(exchange, "remove_tree", refused)
    return exchange.box(run_dir)


def test_what_the_host_cannot_remove_is_purged_with_the_runs_own_image(
        run_dir: Path, stuck: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper gets the run's own image first; once it has emptied the folder, the folder
    goes and the run is cleaned."""
    tried: list[tuple[str, Path]] = []

    def purge(image: str, folder: Path) -> bool:
        tried.append((image, folder))
        (folder / "cache" / "deep").rmdir()
        (folder / "cache").rmdir()
        return True

    monkeypatch.setattr(leftovers, "image_of", lambda path: "own-tests" if path == run_dir else None)
    monkeypatch.setattr(leftovers, "purge_with_engine", purge)
    clean_up(run_dir, lifecycle.finish(run_dir, EndFacts(exit_code=0)))
    assert (tried, stuck.exists(), RunRecord.load(run_dir).cleaned) == ([("own-tests", stuck)], False, True)


def test_a_folder_no_helper_could_purge_is_said_and_left_to_rotation(
        run_dir: Path, stuck: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """No image to purge with: the folder stays (rotation tries again once the run is gone), a
    line says so, and the run is cleaned all the same."""
    monkeypatch.setattr(leftovers, "image_of", lambda _path: None)
    clean_up(run_dir, lifecycle.finish(run_dir, EndFacts(exit_code=0)))
    assert capsys.readouterr().err == (
        f"collector {RUN_ID}: its exchange folder holds what the host user cannot remove ({stuck}); "
        "rotation tries again once the run is gone\n")
    assert (stuck.exists(), RunRecord.load(run_dir).cleaned) == (True, True)


def test_the_history_is_recorded_while_the_engine_removes_the_container(
        run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``meanwhile`` runs beside the removal (the removal waits for it to begin), and the record
    says `cleaned` only once both are over; it runs once, whatever there is to clean."""
    history_begun = threading.Event()
    seen: list[str] = []

    def remove(_self: FakeEngine, name: str) -> None:
        seen.append(f"removal waited: {history_begun.wait(10)}")  # True only if they overlap
        FakeEngine.removed.append(name)

    def history() -> None:
        history_begun.set()
        seen.append(f"history, cleaned={RunRecord.load(run_dir).cleaned}")

    monkeypatch.setattr(_Labelled, "remove", remove)
    record = lifecycle.finish(run_dir, EndFacts(exit_code=0))
    clean_up(run_dir, record, meanwhile=history)
    assert sorted(seen) == ["history, cleaned=False", "removal waited: True"]
    assert RunRecord.load(run_dir).cleaned is True
    calls: list[str] = []
    clean_up(run_dir, RunRecord.load(run_dir), meanwhile=lambda: calls.append("again"))  # cleaned already
    assert calls == ["again"]


def test_a_failed_removal_still_records_the_history_and_leaves_the_run_uncleaned(
        run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine refuses: the history is recorded all the same, and `cleaned` stays false."""
    def refuse(_self: FakeEngine, _name: str) -> None:
        raise EnvctlError("engine gone")

    monkeypatch.setattr(_Labelled, "remove", refuse)
    calls: list[str] = []
    clean_up(run_dir, lifecycle.finish(run_dir, EndFacts(exit_code=0)),
             meanwhile=lambda: calls.append("history"))
    assert (calls, RunRecord.load(run_dir).cleaned) == (["history"], False)


def test_a_bug_in_the_removal_is_raised_and_the_run_stays_uncleaned(
        run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not an engine error (a bug): raised in the collector's thread, history recorded, not `cleaned`."""
    def broken(_self: FakeEngine, _name: str) -> None:
        raise KeyError("odd engine JSON")

    monkeypatch.setattr(_Labelled, "remove", broken)
    calls: list[str] = []
    with pytest.raises(KeyError):
        clean_up(run_dir, lifecycle.finish(run_dir, EndFacts(exit_code=0)),
                 meanwhile=lambda: calls.append("history"))
    assert (calls, RunRecord.load(run_dir).cleaned) == (["history"], False)
