"""The small YAML reader behind the configuration's cache key: the values it reads, and what it
refuses to guess (pure text, no file)."""

from __future__ import annotations

import pytest

from envctl.env.compose_yaml import Unfollowable, is_item, lines, value_at


def value_of(text: str) -> object:
    """The value of the key on the text's first line."""
    found = lines(text)
    indent, line = found[0]
    _key, _sep, inline = line.partition(":")
    column = indent + (len(line) - len(line.lstrip("- ")))
    return value_at(found, 0, column, inline.strip() or None)


@pytest.mark.parametrize(("text", "expected"), [
    ("env_file: a.env", "a.env"),
    ("env_file: 'it''s.env'  # a comment", "it's.env"),
    ('env_file: "a #b.env"', "a #b.env"),
    ("env_file: a#b.env", "a#b.env"),
    ("env_file: &files a.env", "a.env"),
    ("env_file: [a.env, 'b.env', ]", ["a.env", "b.env"]),
    ("env_file: []", []),
    ("extends: {file: common.yml, service: base}", {"file": "common.yml", "service": "base"}),
    ("env_file:", None),
    ("env_file: ~", None),
    ("env_file:\n  - a.env\n  # between\n\n  - b.env\nimage: x", ["a.env", "b.env"]),
    ("env_file:\n- a.env\n- b.env\nimage: x", ["a.env", "b.env"]),
    ("env_file:\n  - path: a.env\n    required: false\n  - b.env",
     [{"path": "a.env", "required": "false"}, "b.env"]),
    ("include:\n  - path:\n      - a.yml\n      - b.yml\n    env_file: [x.env]\n  -\n    c.yml",
     [{"path": ["a.yml", "b.yml"], "env_file": ["x.env"]}, "c.yml"]),
    ("include:\n  - path:\n    - a.yml\n    project_directory: ..",
     [{"path": ["a.yml"], "project_directory": ".."}]),
    ("extends:\n  file: 'common.yml'\n  service: base", {"file": "common.yml", "service": "base"}),
    ("    - env_file: a.env\n      image: x", "a.env"),
])
def test_values_are_read(text: str, expected: object) -> None:
    """Scalars (plain, quoted, anchored), one-line flow lists and mappings, and blocks of them."""
    assert value_of(text) == expected


@pytest.mark.parametrize("text", [
    "env_file: *files",
    "env_file: !reset []",
    "env_file: |\n  a.env",
    "env_file: [a.env,\n  b.env]",
    "extends: {file: a.yml,\n  service: b}",
    "env_file: [[a.env]]",
    'env_file: "a\\tb.env"',
    "env_file: 'a.env",
    "env_file:\n  - a.env\n    b.env",
    "extends:\n  <<: *base",
    "extends:\n  file: a.yml\n  file: b.yml",
    "env_file: a.env\n    more",
    "env_file: a: b",
])
def test_what_it_cannot_read_for_sure_is_unfollowable(text: str) -> None:
    """Aliases, tags, block scalars, flow collections over lines, escapes, odd blocks."""
    with pytest.raises(Unfollowable):
        value_of(text)


def test_lines_drop_comments_and_blanks_and_keep_indentation() -> None:
    """Each line that holds something: its indentation and its text without the comment."""
    assert lines("a: 1  # one\n\n  # only a comment\n  - 'x # y' # z\n") == [(0, "a: 1"), (2, "- 'x # y'")]
    assert (is_item("- a"), is_item("-"), is_item("-a"), is_item("a")) == (True, True, False, False)
