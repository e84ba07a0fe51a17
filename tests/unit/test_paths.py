"""Container test paths map back to repository paths through the test service's mounts."""

from __future__ import annotations

from pathlib import Path

from envctl.report.paths import PathMap


def test_a_file_under_the_working_dir_maps_through_its_mount(tmp_path: Path) -> None:
    """tests/test_smoke.py in /suite, mounted from <repo>/smoke: smoke/tests/test_smoke.py."""
    paths = PathMap("/suite", [(str(tmp_path / "smoke"), "/suite")], tmp_path)
    assert paths.repo_path("tests/test_smoke.py") == "smoke/tests/test_smoke.py"


def test_the_longest_mount_wins_and_absolute_paths_map_too(tmp_path: Path) -> None:
    """A nested mount beats its parent; an absolute container path maps the same way."""
    paths = PathMap("/app", [(str(tmp_path), "/app"), (str(tmp_path / "lib" / "tests"), "/app/tests")],
                    tmp_path)
    assert paths.repo_path("tests/test_a.py") == "lib/tests/test_a.py"
    assert paths.repo_path("/app/src/x.py") == "src/x.py"


def test_no_mount_or_a_mount_from_elsewhere_keeps_the_container_path(tmp_path: Path) -> None:
    """Copied into the image, or mounted from outside the repository: the path as pytest gave it."""
    assert PathMap("/suite", [], tmp_path).repo_path("tests/test_a.py") == "tests/test_a.py"
    outside = PathMap("/suite", [("/opt/elsewhere", "/suite")], tmp_path)
    assert outside.repo_path("tests/test_a.py") == "tests/test_a.py"


def test_a_test_file_that_is_a_link_is_named_where_it_sits(tmp_path: Path) -> None:
    """Only the mount's source is resolved: a linked test file keeps its repository path."""
    (tmp_path / "repo" / "suite").mkdir(parents=True)
    (tmp_path / "elsewhere.py").write_text("")
    (tmp_path / "repo" / "suite" / "test_l.py").symlink_to(tmp_path / "elsewhere.py")
    paths = PathMap("/suite", [(str(tmp_path / "repo" / "suite"), "/suite")], tmp_path / "repo")
    assert paths.repo_path("test_l.py") == "suite/test_l.py"
