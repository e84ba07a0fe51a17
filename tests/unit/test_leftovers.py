"""Exchange folders the host user cannot remove, purged through a helper of a test image: each
image tried in turn, the folder removed once empty, what stays said (no engine here: the purge
is faked, and so is the host's refusal, since unit tests run as root)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from envctl.docker import engine as engine_module
from envctl.docker import purge as purge_module
from envctl.errors import EngineUnavailableError
from envctl.runs import exchange, leftovers
from envctl.runs.leftovers import purge_boxes, run_images

RUNS = ["20260101-000000-aaa1", "20260101-000000-aaa2", "20260101-000000-aaa3", "20260101-000000-aaa4"]


@pytest.fixture
def stuck(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An orphan exchange folder holding a tree the host user cannot remove."""
    box = tmp_path / ".exchange" / RUNS[0]
    (box / "cache" / "v").mkdir(parents=True)
    (box / "cache" / "v" / "data").write_text("x")

    def refused(path: str) -> None:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(exchange, "remove_tree", refused)
    return box


def root_purge(tried: list[str], works_with: str) -> Callable[[str, Path], bool]:
    """A helper that empties the folder as root, with one image only."""
    def purge(image: str, folder: Path) -> bool:
        tried.append(image)
        if image != works_with:
            return False
        for entry in folder.iterdir():
            shutil.rmtree(entry)
        return True

    return purge


def test_a_stuck_folder_is_purged_with_the_first_image_that_works(stuck: Path, tmp_path: Path) -> None:
    """The first image is not on the engine, the second is: the folder is emptied and removed."""
    tried: list[str] = []
    left = purge_boxes(tmp_path, [stuck], purge=root_purge(tried, "b:1"), images=["a:1", "b:1", "c:1"])
    assert (left, tried, stuck.exists()) == ([], ["a:1", "b:1"], False)


def test_without_an_engine_the_folder_stays_for_the_next_time(stuck: Path, tmp_path: Path) -> None:
    """No engine: no other image is tried, the folder is returned as left."""
    tried: list[str] = []

    def no_engine(image: str, _folder: Path) -> bool:
        tried.append(image)
        raise EngineUnavailableError("the Docker engine does not answer")

    assert purge_boxes(tmp_path, [stuck], purge=no_engine, images=["a:1", "b:1"]) == [stuck]
    assert (tried, (stuck / "cache" / "v" / "data").read_text()) == (["a:1"], "x")


def test_the_images_tried_are_the_newest_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Newest first, each once, a run whose image cannot be told skipped, at most IMAGES_TRIED."""
    for run_id in RUNS:
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "run.json").write_text("{}")
    images = {RUNS[3]: "shop-tests", RUNS[2]: None, RUNS[1]: "shop-tests", RUNS[0]: "old-tests"}
    monkeypatch.setattr(leftovers, "image_of", lambda run_dir: images[run_dir.name])
    assert run_images(tmp_path) == ["shop-tests", "old-tests"]
    monkeypatch.setattr(leftovers, "IMAGES_TRIED", 1)
    assert run_images(tmp_path) == ["shop-tests"]


def test_a_run_without_its_start_file_has_no_image(tmp_path: Path) -> None:
    """No start.json (an older envctl, a damaged run): None, no error."""
    assert leftovers.image_of(tmp_path) is None


def test_a_remote_engine_is_never_asked_to_mount_a_local_folder(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """DOCKER_HOST on another machine: its bind mount would be of its own folders, so no helper."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://ci-engine:2376")
    assert leftovers.purge_with_engine("img", tmp_path) is False


class _Engine:
    """An engine that records what it removes by label and what the helper is given."""

    removed: list[tuple[str, ...]] = []  # noqa: RUF012  # class-wide: the code under test makes its own
    client = SimpleNamespace(api="the api")

    def __init__(self, timeout: float, *, host: str | None = None) -> None:
        self.host = host
        self.timeout = timeout

    def __enter__(self) -> _Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def remove_labelled(self, *filters: str) -> dict[str, int]:
        _Engine.removed.append(filters)
        return {"containers": 1, "networks": 0, "volumes": 0}


def test_a_helper_an_earlier_purge_left_is_removed_before_the_next_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper carries its role and the folder's run; one left with those labels goes first."""
    started: list[tuple[object, str, Path, dict[str, str]]] = []

    def purge_folder(api: object, image: str, folder: Path, *, labels: dict[str, str]) -> bool:
        started.append((api, image, folder, labels))
        return True

    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    monkeypatch.setattr(engine_module, "Engine", _Engine)
    monkeypatch.setattr(purge_module, "purge_folder", purge_folder)
    _Engine.removed = []
    folder = tmp_path / ".exchange" / RUNS[0]
    folder.mkdir(parents=True)
    assert leftovers.purge_with_engine("img", folder) is True
    assert _Engine.removed == [("io.envctl.managed=true", f"io.envctl.run={RUNS[0]}",
                                "io.envctl.role=exchange-purge")]
    assert started == [("the api", "img", folder, {"io.envctl.managed": "true", "io.envctl.run": RUNS[0],
                                                    "io.envctl.role": "exchange-purge"})]


def test_a_runs_own_folder_is_purged_with_its_own_image_first(stuck: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The run still there: its image, then the newest runs' others; gone once purged."""
    run_dir = tmp_path / RUNS[0]
    for run_id in (RUNS[0], RUNS[1]):
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "run.json").write_text("{}")
    images = {RUNS[0]: "own-tests", RUNS[1]: "newer-tests"}
    monkeypatch.setattr(leftovers, "image_of", lambda path: images[path.name])
    tried: list[str] = []
    assert leftovers.purge_run_box(run_dir, purge=root_purge(tried, "newer-tests")) is True
    assert (tried, stuck.exists()) == (["own-tests", "newer-tests"], False)


def test_a_link_in_a_folders_place_is_removed_never_handed_to_the_helper(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A box the container replaced by a link: the link goes, its target is never purged."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("mine")
    folder = tmp_path / "runs" / ".exchange" / RUNS[0]
    folder.parent.mkdir(parents=True)
    folder.symlink_to(victim)
    tried: list[str] = []
    assert purge_boxes(tmp_path / "runs", [folder], purge=root_purge(tried, "img"),
                       images=["img"]) == []
    assert (tried, os.path.lexists(folder), (victim / "keep").read_text()) == ([], False, "mine")


def test_a_folder_reached_through_a_linked_exchange_root_is_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exchange root a link: nothing purged or removed through it, the folder said left."""
    victim = tmp_path / "victim"
    (victim / RUNS[0]).mkdir(parents=True)
    (victim / RUNS[0] / "keep").write_text("mine")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / ".exchange").symlink_to(victim)
    folder = tmp_path / "runs" / ".exchange" / RUNS[0]
    tried: list[str] = []
    assert purge_boxes(tmp_path / "runs", [folder], purge=root_purge(tried, "img"),
                       images=["img"]) == [folder]
    assert (tried, (victim / RUNS[0] / "keep").read_text()) == ([], "mine")
    monkeypatch.setattr(engine_module, "Engine", _Engine)
    assert leftovers.purge_with_engine("img", folder) is False
