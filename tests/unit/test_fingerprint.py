"""A run's fingerprint: what counts as a change of the code or the environment, and how it is
recorded (the environment's part on a stand-in: no engine, no compose)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from envctl.runs import fingerprint
from envctl.runs.fingerprint import FINGERPRINT_FILE, Recorder, code_fingerprint, differences, load
from envctl.settings import Settings


def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "README.md").write_text("words\n")
    return root


def test_an_edited_test_file_changes_the_code_part(tmp_path: Path) -> None:
    """A .py file's content or a pytest configuration file changes it; other files do not."""
    root = project(tmp_path)
    before = code_fingerprint(root)
    (root / "README.md").write_text("other words\n")
    assert code_fingerprint(root) == before
    (root / "tests" / "test_a.py").write_text("def test_a():\n    assert 0\n")
    edited = code_fingerprint(root)
    assert edited["files"] != before["files"]
    (root / "pytest.ini").write_text("[pytest]\naddopts = -x\n")
    assert code_fingerprint(root)["files"] != edited["files"]
    assert (before["count"], before["cut"], before["commit"]) == (2, False, None)


def test_what_the_runs_and_tools_leave_is_not_code(tmp_path: Path) -> None:
    """Hidden folders, __pycache__, node_modules, virtual environments and the runs' own folder
    are left out: files there never change the code part."""
    root = project(tmp_path)
    before = code_fingerprint(root, (root / "runs",))
    for folder in (".venv", "__pycache__", "node_modules", "venv", "runs"):
        (root / folder).mkdir()
        (root / folder / "x.py").write_text("x = 1\n")
    (root / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
    assert code_fingerprint(root, (root / "runs",)) == before


def test_a_link_is_hashed_by_where_it_points_and_a_fifo_never_opened(tmp_path: Path) -> None:
    """The tests may write the project folder: a link is not followed, a FIFO is not opened
    (a read would block), and both still count."""
    root = project(tmp_path)
    before = code_fingerprint(root)
    (root / "link.py").symlink_to("/dev/zero")
    os.mkfifo(root / "pipe.py")
    after = code_fingerprint(root)
    assert (after["count"], after["files"] != before["files"]) == (4, True)


def test_past_the_cap_what_was_read_is_compared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past FILES_CAP files the walk stops and says so."""
    monkeypatch.setattr(fingerprint, "FILES_CAP", 1)
    assert code_fingerprint(project(tmp_path))["cut"] is True


def test_the_commit_is_heads(tmp_path: Path) -> None:
    """In a repository with a commit: HEAD's; in one without: none."""
    root = project(tmp_path)
    environ = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a",
               "GIT_COMMITTER_EMAIL": "a@b"}
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=environ)
    assert code_fingerprint(root)["commit"] is None
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True, env=environ)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "x"], check=True, env=environ)
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert code_fingerprint(root / "tests")["commit"] == head


RECORDED = {"code": {"commit": "a" * 40, "files": "f1", "count": 2, "cut": False},
            "environment": {"compose": "k1", "images": {"db": "sha256:1", "test": "sha256:2"}}}


def test_no_difference_is_said_when_nothing_changed() -> None:
    """The same fingerprint: nothing to say."""
    assert differences(RECORDED, json.loads(json.dumps(RECORDED))) == []


def test_each_change_is_said() -> None:
    """The commit, the files, the compose configuration and each image that changed."""
    now: dict[str, Any] = {"code": {"commit": "b" * 40, "files": "f2"},
                           "environment": {"compose": "k2", "images": {"db": "sha256:1", "test": "sha256:3",
                                                                       "new": None}}}
    assert differences(RECORDED, now) == [
        f"the commit changed ({'a' * 12} -> {'b' * 12})",
        "the project's test code changed (its .py files or pytest configuration)",
        "the compose configuration changed (its files or the variables they use)",
        "the image of test changed"]


def test_what_cannot_be_compared_is_a_difference() -> None:
    """No recorded fingerprint, or a part that could not be taken: a change cannot be ruled out."""
    assert differences(None, RECORDED)[0].startswith("the first run recorded no fingerprint")
    now = {"code": RECORDED["code"], "environment": {"error": "DockerError: no engine"}}
    assert differences(RECORDED, now) == ["the environment cannot be compared (DockerError: no engine)"]


class _Env:
    """The environment's part, as a stand-in answers it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


def test_the_recorder_writes_both_parts_once_the_images_are_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The code part, then the environment's once the start reached its images; load reads it
    back. A start that failed first records nothing."""
    monkeypatch.setattr(Recorder, "threaded", False)
    monkeypatch.setattr(fingerprint, "environment_fingerprint", lambda env: {"compose": "k", "images": {}})
    settings = Settings(project_dir=project(tmp_path))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    Recorder(run_dir, settings).environment(None)
    assert load(run_dir) is None
    Recorder(run_dir, settings).environment(_Env(settings))  # type: ignore[arg-type]  # a stand-in
    recorded = load(run_dir)
    assert recorded is not None
    assert (recorded["environment"], recorded["code"]["count"]) == ({"compose": "k", "images": {}}, 2)
    assert (run_dir / FINGERPRINT_FILE).stat().st_mode & 0o777 == 0o600


def test_a_part_that_fails_is_recorded_as_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Taking a part never fails the run: the error is recorded instead."""
    monkeypatch.setattr(Recorder, "threaded", False)

    def broken(_env: object) -> dict[str, Any]:
        raise RuntimeError("no engine")

    monkeypatch.setattr(fingerprint, "environment_fingerprint", broken)
    settings = Settings(project_dir=project(tmp_path))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    Recorder(run_dir, settings).environment(_Env(settings))  # type: ignore[arg-type]  # a stand-in
    assert load(run_dir)["environment"] == {"error": "RuntimeError: no engine"}  # type: ignore[index]


def test_a_damaged_file_is_no_fingerprint(tmp_path: Path) -> None:
    """Not JSON, not an object, a link: None."""
    (tmp_path / FINGERPRINT_FILE).write_text("[1]")
    assert load(tmp_path) is None
    (tmp_path / FINGERPRINT_FILE).unlink()
    (tmp_path / FINGERPRINT_FILE).symlink_to(tmp_path / "elsewhere.json")
    (tmp_path / "elsewhere.json").write_text("{}")
    assert load(tmp_path) is None
