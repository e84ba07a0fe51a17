"""The labels envctl puts on what it creates, spelled in one place."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import envctl
from envctl.docker import labels


def test_a_shared_project_is_labelled_managed_only() -> None:
    """Managed, and which project; nothing for gc to remove."""
    assert labels.project_labels("shop") == {"io.envctl.managed": "true", "io.envctl.project": "shop"}


def test_an_isolated_project_names_its_run_for_gc() -> None:
    """A throwaway project carries the isolated mark and its run's id."""
    assert labels.project_labels("shop-r1", isolated_for="r1") == {
        "io.envctl.managed": "true", "io.envctl.project": "shop-r1", "io.envctl.isolated": "true",
        "io.envctl.run": "r1"}


def test_a_test_run_container_carries_its_run_and_role() -> None:
    """The project's labels, the run id and the test-run role."""
    assert labels.run_labels("shop", "r2") == {
        "io.envctl.managed": "true", "io.envctl.project": "shop", "io.envctl.run": "r2",
        "io.envctl.role": "test-run"}


def test_the_purge_helper_carries_its_role_and_the_folders_run() -> None:
    """Managed, the run whose exchange folder it empties, its own role; no project."""
    assert labels.purge_labels("r3") == {"io.envctl.managed": "true", "io.envctl.run": "r3",
                                         "io.envctl.role": "exchange-purge"}


SPELLED = re.compile(r"io\.envctl\.|com\.docker\.compose\.|\btest-run\b|\bwait-probe\b|\bexchange-purge\b")


def strings_in(tree: ast.AST) -> list[str]:
    """The string constants of a module's code (f-string parts too), docstrings left out."""
    docstrings = {id(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_labels_and_roles_are_spelled_in_labels_py_only() -> None:
    """Everything else names them through envctl.docker.labels."""
    package = Path(envctl.__file__).parent
    found = [f"{path.relative_to(package)}: {text!r}"
             for path in sorted(package.rglob("*.py")) if path != package / "docker" / "labels.py"
             for text in strings_in(ast.parse(path.read_text(encoding="utf-8")))
             if SPELLED.search(text)]
    assert found == []
