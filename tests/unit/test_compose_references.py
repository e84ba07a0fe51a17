"""The files compose reads besides those it is given, found and resolved as compose resolves
them; what cannot be followed for sure is Unfollowable (real files in tmp_path, no engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envctl.env.compose_references import Include, References, files_read, references
from envctl.env.compose_yaml import Unfollowable


def test_references_are_read_where_compose_reads_them() -> None:
    """include at the top (strings, lists, mappings), extends with a file, env_file and
    label_file wherever they are (an anchor carries them into services); not watch's include,
    nor extends of a service in the same file, nor an include entry's env_file twice."""
    text = """\
include:
  - a.yml
  - path: [b.yml, b2.yml]
    env_file: b.env
    project_directory: sub
x-common: &common
  env_file: [common.env]
services:
  test:
    <<: *common
    extends: {file: base.yml, service: base}
    label_file: labels
    env_file:
      - path: test.env
        required: false
    develop:
      watch:
        - action: sync
          path: ./src
          include: ["*.py"]
  other:
    extends: test
    command: echo include env_file
"""
    assert references(text) == References(
        includes=(Include(("a.yml",)), Include(("b.yml", "b2.yml"), ("b.env",), "sub")),
        extends=("base.yml",), env_files=("common.env", "labels", "test.env"))


def test_an_indented_document_and_a_complex_key_are_not_missed() -> None:
    """A whole document indented: its include is still the top level's; `? env_file` (YAML's
    explicit key) cannot be read line by line: Unfollowable."""
    assert references("  include:\n    - a.yml\n  services: {}\n").includes == (Include(("a.yml",)),)
    with pytest.raises(Unfollowable):
        references("services:\n  t:\n    ? env_file\n    : a.env\n")


def test_a_compose_file_in_json_is_read_by_its_structure() -> None:
    """JSON is YAML: read exactly, with a keyword anywhere else ignored."""
    text = json.dumps({"include": [{"path": "a.yml"}], "x-note": "env_file: nothing",
                       "services": {"t": {"env_file": ["t.env"],
                                          "extends": {"file": "b.yml", "service": "s"}}}})
    assert references(text) == References((Include(("a.yml",)),), ("b.yml",), ("t.env",))


@pytest.mark.parametrize("text", [
    "services: {test: {env_file: a.env}}",
    "services:\n  test:\n    extends:\n      file: *base\n",
    "include:\n  - path: a.yml\n    unknown: 1\n",
    "include: a.yml\n",
    "services:\n  test:\n    env_file: {path: a.env}\n",
    "services:\n  test:\n    extends: {file: a.yml, other: x}\n",
    "services:\n  test:\n    env_file: [{path: a.env}]\n",
])
def test_what_cannot_be_placed_or_read_is_unfollowable(text: str) -> None:
    """Flow style around a keyword, aliases, unknown include keys, shapes compose refuses."""
    with pytest.raises(Unfollowable):
        references(text)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_every_file_is_found_resolved_as_compose_does(tmp_path: Path) -> None:
    """Relative paths: a top-level file's (an override in another folder too) from the project
    folder; an included file's from its project folder; an extended file's from its own folder;
    an include's env_file from the includer's. Absent env files count as absent."""
    main = write(tmp_path / "compose.yaml", "include:\n  - inc/inc.yaml\n  - path: other/o.yaml\n"
                                            "    env_file: o.env\nservices:\n  test:\n    image: x\n"
                                            "    extends:\n      file: lib/base.yaml\n      service: b\n")
    override = write(tmp_path / "ci" / "override.yaml", "services:\n  test:\n    env_file: ci.env\n")
    write(tmp_path / "inc" / "inc.yaml", "services:\n  i:\n    image: x\n    env_file: i.env\n"
                                         "include:\n  - deeper/d.yaml\n")
    write(tmp_path / "inc" / "deeper" / "d.yaml", "services: {d: {image: x}}\n")
    write(tmp_path / "other" / "o.yaml", "services: {o: {image: x}}\n")
    write(tmp_path / "o.env", "A=1\n")
    write(tmp_path / "lib" / "base.yaml", "services:\n  b:\n    image: x\n    label_file: l.txt\n"
                                          "    extends: {file: ../shared/s.yaml, service: s}\n")
    write(tmp_path / "shared" / "s.yaml", "services: {s: {image: x}}\n")
    write(tmp_path / ".env", "TAG=1\n")
    found = dict(files_read([main, override]))
    assert sorted(str(p.relative_to(tmp_path)) for p in found) == sorted([
        "compose.yaml", ".env", "ci/override.yaml", "ci/.env", "ci.env",
        "inc/inc.yaml", "inc/.env", "inc/i.env", "inc/deeper/d.yaml", "inc/deeper/.env",
        "other/o.yaml", "o.env",
        "lib/base.yaml", "lib/l.txt", "shared/s.yaml"])
    assert found[tmp_path / "o.env"] == b"A=1\n"
    assert found[tmp_path / "ci.env"] is None
    assert found[tmp_path / "inc" / ".env"] is None


def test_an_include_with_a_project_directory_resolves_from_it(tmp_path: Path) -> None:
    """The included file's own references resolve from `project_directory`, whose `.env` is
    read when the include names no env file."""
    main = write(tmp_path / "compose.yaml", "include:\n  - path: parts/p.yaml\n    project_directory: proj\n")
    write(tmp_path / "parts" / "p.yaml", "services:\n  p:\n    image: x\n    env_file: p.env\n")
    found = dict(files_read([main]))
    assert {tmp_path / "proj" / ".env", tmp_path / "proj" / "p.env"} <= set(found)
    assert tmp_path / "parts" / "p.env" not in found


@pytest.mark.parametrize("text", [
    "services:\n  t:\n    env_file: ${ENV_DIR}/t.env\n",
    "include:\n  - https://github.com/org/repo.git\n",
    "include:\n  - git@github.com:org/repo.git\n",
    "include:\n  - oci://docker.io/org/app:latest\n",
    "include:\n  - missing.yaml\n",
    "services:\n  t:\n    extends: {file: ~/base.yaml, service: b}\n",
    "include:\n  - inc.yaml\n",  # inc.yaml includes with a relative env_file: compose's cwd decides
])
def test_a_reference_that_cannot_be_followed_is_unfollowable(tmp_path: Path, text: str) -> None:
    """Interpolated, remote, missing or `~` includes and extends; an included file's include
    with a relative env_file (compose resolves it from its own working directory)."""
    write(tmp_path / "inc.yaml", "include:\n  - path: d.yaml\n    env_file: d.env\n")
    write(tmp_path / "d.yaml", "services: {}\n")
    with pytest.raises(Unfollowable):
        files_read([write(tmp_path / "compose.yaml", text)])


def test_a_missing_top_level_file_or_a_folder_as_env_file_is_unfollowable(tmp_path: Path) -> None:
    """compose would fail: nothing to key."""
    with pytest.raises(Unfollowable):
        files_read([tmp_path / "compose.yaml"])
    (tmp_path / "conf").mkdir()
    with pytest.raises(Unfollowable):
        files_read([write(tmp_path / "compose.yaml", "services:\n  t:\n    env_file: conf\n")])


def test_loops_end_and_files_without_keywords_are_not_parsed(tmp_path: Path) -> None:
    """Two files including each other are each read once; a file naming no keyword (flow
    style included) is read but not parsed."""
    a = write(tmp_path / "a.yaml", "include:\n  - b.yaml\n")
    write(tmp_path / "b.yaml", "include:\n  - a.yaml\n")
    assert [p.name for p, _data in files_read([a])] == ["a.yaml", ".env", "b.yaml"]
    flow = write(tmp_path / "flow.yaml", "services: {db: {image: 'postgres:${TAG}'}}\n")
    assert [p.name for p, _data in files_read([flow])] == ["flow.yaml", ".env"]
