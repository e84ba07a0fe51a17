"""`down`'s clean-up of shard projects on another engine (a fake engine): only this project's,
only those running no test and not kept for a run that has not ended."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

import envctl.docker.engine
from envctl.docker.resources import ProjectAge
from envctl.gc import remove_idle_isolated


class IsolatedEngine:
    """An engine holding some isolated projects; it records what it was asked to remove."""

    removed: ClassVar[list[tuple[str, ...]]] = []

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def __enter__(self) -> IsolatedEngine:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def isolated_projects(self, _isolated: str, _project: str) -> dict[str, ProjectAge]:
        idle, busy = ProjectAge(checkouts={"me:/src/p"}), ProjectAge(running_tests=True)
        return {"p-s1-aaaaaa": idle, "p-s2-bbbbbb": busy, "p-s3-cccccc": idle, "p-iso-dddddd": ProjectAge(),
                "p-other-s1-eeeeee": idle, "q-s1-ffffff": idle,
                "p-s4-999999": ProjectAge(checkouts={"them:/src/p"})}

    def remove_labelled(self, *filters: str) -> dict[str, int]:
        self.removed.append(filters)
        return {}


def test_only_idle_ended_shards_of_this_project_are_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    """s2 runs tests, s3's run has not ended (its reports may still be in its container),
    another project's and a look-alike name are not this project's, s4 is another machine's
    checkout's: s1 and iso (made before the checkout label: counted as ours) go."""
    monkeypatch.setattr(envctl.docker.engine, "Engine", IsolatedEngine)
    IsolatedEngine.removed = []
    assert remove_idle_isolated("p", host="unix:///run/e2/docker.sock", keep=frozenset({"p-s3-cccccc"}),
                                checkout="me:/src/p") == ["p-iso-dddddd", "p-s1-aaaaaa"]
    assert IsolatedEngine.removed == [
        ("io.envctl.project=p-iso-dddddd", "io.envctl.isolated=true"),
        ("io.envctl.project=p-s1-aaaaaa", "io.envctl.isolated=true")]
