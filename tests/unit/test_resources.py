"""What a project leaves behind, through a stand-in API: isolated projects found by label and
their age, and every labelled object removed."""

from __future__ import annotations

from typing import Any, cast

from envctl.docker import labels
from envctl.docker.resources import ProjectAge, isolated_projects, remove_labelled
from tests.unit.fake_api import Each, FakeAPI, not_found


def test_isolated_projects_are_dated_by_their_newest_container() -> None:
    """Per project: the newest container's creation, and whether a test run still runs in it;
    a project with only a network or a volume counts as created long ago; unlabelled is skipped."""
    test_run = {labels.PROJECT: "p1", labels.ROLE: labels.TEST_RUN_ROLE}
    api = FakeAPI(
        containers=[{"Labels": {labels.PROJECT: "p1"}, "Created": 100, "State": "exited"},
                    {"Labels": test_run, "Created": 250, "State": "running"},
                    {"Labels": {labels.PROJECT: "p2"}, "Created": 50, "State": "running"},
                    {"Labels": None, "Created": 999}],
        networks=[{"Labels": {labels.PROJECT: "p3"}}],
        volumes={"Volumes": [{"Labels": {labels.PROJECT: "p2"}}, {"Labels": {}}]})
    found = isolated_projects(cast("Any", api), labels.ISOLATED, labels.PROJECT)
    assert found == {"p1": ProjectAge(250.0, True), "p2": ProjectAge(50.0, False), "p3": ProjectAge()}
    wanted = {"filters": {"label": "io.envctl.isolated=true"}}
    assert api.called("containers") == [((), {"all": True, **wanted})]
    assert api.called("networks") == [((), wanted)]


def test_an_engine_without_volumes_lists_none() -> None:
    """The engine answers ``"Volumes": null`` when there are none."""
    api = FakeAPI(containers=[], networks=[], volumes={"Volumes": None})
    assert isolated_projects(cast("Any", api), labels.ISOLATED, labels.PROJECT) == {}


def test_remove_labelled_counts_what_it_removed() -> None:
    """Containers (forced, with their volumes), then networks, then volumes; one already gone
    is not counted."""
    api = FakeAPI(containers=[{"Id": "c1"}, {"Id": "c2"}], networks=[{"Id": "n1"}],
                  volumes={"Volumes": [{"Name": "v1"}]}, remove_container=Each(None, not_found()))
    assert remove_labelled(cast("Any", api), "a=1", "b=2") == {"containers": 1, "networks": 1, "volumes": 1}
    assert api.called("containers") == [((), {"all": True, "filters": {"label": ["a=1", "b=2"]}})]
    assert api.called("remove_container") == [(("c1",), {"force": True, "v": True}),
                                              (("c2",), {"force": True, "v": True})]
    assert api.called("remove_network") == [(("n1",), {})]
    assert api.called("remove_volume") == [(("v1",), {"force": True})]
