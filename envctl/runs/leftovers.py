"""What a test container left in the exchange area that the host user cannot remove, removed
through the engine.

A test container running as a non-root uid may leave a folder of that uid with mode 0700 (or
0500) in its exchange folder: pytest's tmp_path, a cache. A non-root host user can neither list
nor empty it, so the exchange folder stays. Nothing the host or envctl sets beforehand prevents
it: the container may chmod what it owns (a default ACL is masked by `chmod 700`, and not every
file system has ACLs), and its runner's last clean-up is skipped when it is killed (a timeout's
SIGKILL, the OOM killer, a stopped engine). What always works is its owner over that folder
alone: a one-shot helper container of a test image as the owner's uid:gid, with no capability
(``docker.purge``), started only when the host's own removal fails. A run's clean-up asks for it
first (``purge_run_box``), with the run's own image; then `envctl gc`'s rotation, for every
exchange folder whose run is gone (``exchange.orphan_boxes``; a run's start leaves them, never
waiting on a helper): one it cannot purge now (no engine, no image, a remote engine that cannot
mount the folder) is tried again next time, never forgotten. Before a helper starts, one an
earlier purge of the same folder left (its envctl died, the engine kept it) is removed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from envctl.errors import EnvctlError
from envctl.log import get_logger
from envctl.runs.exchange import box, remove_folder, replaced
from envctl.runs.store import START_FILE, RunStore

IMAGES_TRIED = 3  # test images of the newest runs tried in turn (one the engine lacks is skipped)


def purge_boxes(log_dir: Path, boxes: list[Path], *,
                purge: Callable[[str, Path], bool] | None = None,
                images: list[str] | None = None) -> list[Path]:
    """Empty and remove ``boxes`` (exchange folders the host user could not remove) through a
    helper container of a test image; the ones still there. ``purge(image, folder)``: empties
    ``folder`` with ``image`` (default: through the engine); ``images``: the test images to try
    (default: those of the newest runs in ``log_dir``)."""
    if not boxes:
        return []
    purge = purge or purge_with_engine
    images = run_images(log_dir) if images is None else images
    for folder in boxes:
        if os.path.lexists(folder) and not genuine(folder):  # removed as a link, never followed
            get_logger("envctl.leftovers").warning("exchange folder not purged: a link or in one",
                                                   folder=str(folder))
            remove_folder(folder)
            continue
        for image in images:
            try:
                if purge(image, folder):
                    break
            except EnvctlError:
                break  # no engine: every other image and folder would fail alike, until next time
        remove_folder(folder)
    return [folder for folder in boxes if os.path.lexists(folder)]


def genuine(folder: Path) -> bool:
    """Whether ``folder`` is an exchange folder at its own path: no link as it or as the exchange
    root (a root helper mounts that folder, and must not empty what a link points to)."""
    return folder.is_dir() and not replaced(folder)


def purge_run_box(run_dir: Path, *, purge: Callable[[str, Path], bool] | None = None) -> bool:
    """Purge the exchange folder of ``run_dir`` (a run still there, whose clean-up could not
    remove it) with the run's own image first; whether it is gone."""
    log_dir = run_dir.parent
    own = image_of(run_dir)
    images = [*([own] if own is not None else []), *(i for i in run_images(log_dir) if i != own)]
    return not purge_boxes(log_dir, [box(run_dir)], purge=purge, images=images)


def run_images(log_dir: Path) -> list[str]:
    """The test images of the newest runs in ``log_dir`` (each run's start.json names its
    settings and project), at most IMAGES_TRIED of them."""
    found: list[str] = []
    for run_id in reversed(RunStore(log_dir).ids()):
        image = image_of(log_dir / run_id)
        if image is not None and image not in found:
            found.append(image)
        if len(found) >= IMAGES_TRIED:
            break
    return found


def _image_of(run_dir: Path) -> str | None:
    from envctl.env.environment import Environment  # noqa: PLC0415  # lazy: only with leftovers
    from envctl.settings import Settings  # noqa: PLC0415

    try:
        data = json.loads((run_dir / START_FILE).read_text(encoding="utf-8"))
        env = Environment(Settings.from_json(data["settings"]), project=data["project"],
                          isolated_for=data.get("isolated_for"))
        return env.image_for(env.settings.test_service)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EnvctlError):
        return None  # a run from an older envctl, a compose file since changed: the next run's


# Looked up at each call: a unit test gives the images without a compose file.
image_of: Callable[[Path], str | None] = _image_of


def _purge_with_engine(image: str, folder: Path) -> bool:
    """Empty ``folder`` from a helper container on the engine, if that engine is this machine's
    (a remote one would mount a folder of its own machine); a helper an earlier purge of it
    left is removed first."""
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        return False
    from envctl.docker import labels, timeouts  # noqa: PLC0415  # lazy: the SDK is heavy
    from envctl.docker.engine import Engine  # noqa: PLC0415
    from envctl.docker.purge import purge_folder  # noqa: PLC0415

    helper = labels.purge_labels(folder.name)
    with Engine(timeout=timeouts.CALL) as engine:
        engine.remove_labelled(*(f"{key}={value}" for key, value in helper.items()))
        # The folder itself never resolved (checked no link just before: ``genuine``), only the
        # exchange root's path, the user's own log dir's links followed as the engine needs.
        return genuine(folder) and purge_folder(engine.client.api, image,
                                                Path(os.path.realpath(folder.parent)) / folder.name,
                                                labels=helper)


# Looked up at each call: a unit test (or a caller without an engine) empties folders its own way.
purge_with_engine: Callable[[str, Path], bool] = _purge_with_engine
