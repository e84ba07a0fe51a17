"""The labels envctl puts on everything it creates, and the filters that find them again."""

from __future__ import annotations

LABEL_PREFIX = "io.envctl."
MANAGED = LABEL_PREFIX + "managed"
PROJECT = LABEL_PREFIX + "project"
RUN = LABEL_PREFIX + "run"
ROLE = LABEL_PREFIX + "role"
ISOLATED = LABEL_PREFIX + "isolated"  # a throwaway project of one run (--isolated, shards); gc may remove it
# The checkout a throwaway project belongs to (host:path): on an engine several machines share,
# one machine's `down` removes only its own shards' projects, not another's of the same name.
CHECKOUT = LABEL_PREFIX + "checkout"
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"

TEST_RUN_ROLE = "test-run"  # the container that runs the tests
PROBE_ROLE = "wait-probe"  # a container that tries a wait from a service's network
VISIBILITY_ROLE = "visibility-probe"  # a container created (never started) to see if an engine sees a folder
DISK_ROLE = "disk-look"  # a one-shot container saying the free space of an engine's disk (doctor)
PURGE_ROLE = "exchange-purge"  # a one-shot root helper emptying an exchange folder (docker/purge.py)


def project_labels(project: str, isolated_for: str | None = None) -> dict[str, str]:
    """Labels for every service container, network and volume of an envctl-managed project.

    ``isolated_for``: the run id (or token) of a throwaway project, which `gc` may remove."""
    tags = {MANAGED: "true", PROJECT: project}
    if isolated_for:
        tags |= {ISOLATED: "true", RUN: isolated_for}
    return tags


def checkout_of(project_dir: str) -> str:
    """This machine's name and the project folder: what CHECKOUT says."""
    import socket  # noqa: PLC0415  # only where a label is made

    return f"{socket.gethostname()}:{project_dir}"


def run_labels(project: str, run_id: str) -> dict[str, str]:
    """Labels for a test-run container."""
    return {**project_labels(project), RUN: run_id, ROLE: TEST_RUN_ROLE}


def purge_labels(run_id: str) -> dict[str, str]:
    """Labels for the helper that purges the exchange folder of run ``run_id`` (the folder's
    name), which belongs to no project: by these, a later purge of that folder finds one left."""
    return {MANAGED: "true", RUN: run_id, ROLE: PURGE_ROLE}
