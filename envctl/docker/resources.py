"""Networks and volumes, with the containers beside them: the objects a project leaves behind,
found and removed by label."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from envctl.docker import labels as label_names
from envctl.docker.translate import translate_errors

if TYPE_CHECKING:
    from docker import APIClient


@dataclass
class ProjectAge:
    """How old an isolated project is (its newest container), and whether tests still run in it."""

    newest_created: float = 0.0
    running_tests: bool = False
    checkouts: set[str] = field(default_factory=set)  # the checkouts its objects say they belong to


def isolated_projects(api: APIClient, isolated_label: str, project_label: str) -> dict[str, ProjectAge]:
    """Every project with ``isolated_label=true`` objects: its newest container's creation
    time and whether a test run is still going in it. Networks and volumes without
    containers count as created long ago."""
    projects: dict[str, ProjectAge] = {}
    wanted = {"label": f"{isolated_label}=true"}
    with translate_errors("listing isolated projects"):
        containers = api.containers(all=True, filters=wanted)
        networks = api.networks(filters=wanted)
        volumes = api.volumes(filters=wanted).get("Volumes") or []
    for summary in containers:
        tags = summary.get("Labels") or {}
        info = projects.setdefault(str(tags.get(project_label, "")), ProjectAge())
        info.newest_created = max(info.newest_created, float(summary.get("Created") or 0))
        if tags.get(label_names.ROLE) == label_names.TEST_RUN_ROLE and summary.get("State") == "running":
            info.running_tests = True
        if isinstance(tags.get(label_names.CHECKOUT), str):
            info.checkouts.add(tags[label_names.CHECKOUT])
    for other in [*networks, *volumes]:
        tags = other.get("Labels") or {}
        info = projects.setdefault(str(tags.get(project_label, "")), ProjectAge())
        if isinstance(tags.get(label_names.CHECKOUT), str):
            info.checkouts.add(tags[label_names.CHECKOUT])
    projects.pop("", None)
    return projects


def remove_labelled(api: APIClient, *label_filters: str) -> dict[str, int]:
    """Force-remove containers, then networks and volumes, carrying every label filter."""
    import docker.errors  # noqa: PLC0415  # lazy: the SDK costs ~150 ms to import

    wanted = {"label": list(label_filters)}
    counts = {"containers": 0, "networks": 0, "volumes": 0}
    with translate_errors("removing labelled objects"):
        for summary in api.containers(all=True, filters=wanted):
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_container(summary["Id"], force=True, v=True)
                counts["containers"] += 1
        for network in api.networks(filters=wanted):
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_network(network["Id"])
                counts["networks"] += 1
        for volume in api.volumes(filters=wanted).get("Volumes") or []:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_volume(volume["Name"], force=True)
                counts["volumes"] += 1
    return counts
